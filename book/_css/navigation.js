/* The sidebar buttons, repaired.

   sphinx-book-theme 1.3.0 shows its own "primary" (chapter list) and
   "secondary" (contents of this page) toggles in the article header and hides
   pydata-sphinx-theme 0.17.1's navbar toggles. Both themes' scripts wire their
   handlers with document.querySelector(".primary-toggle") and
   (".secondary-toggle"): the first such button in the page, the hidden one.
   So on a phone the visible buttons open nothing, and on a wide screen the
   menu button does not hide the sidebar.

   Each visible toggle forwards its click to the first toggle of its kind, the
   one that carries both themes' handlers: on a narrow screen it opens the
   sidebar as a dialog, on a wide one it hides or shows the chapter list.
   The browser test (tests/test_site.py) taps both buttons at 390 px and the
   menu button at 1280 px. */
(() => {
  const forward = (selector) => {
    const buttons = Array.from(document.querySelectorAll(selector));
    const wired = buttons[0];
    buttons.slice(1).forEach((button) => {
      button.addEventListener(
        "click",
        (event) => {
          event.preventDefault();
          event.stopImmediatePropagation();
          wired.click();
        },
        true,
      );
    });
  };
  const wire = () => {
    forward(".primary-toggle");
    forward(".secondary-toggle");
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
})();
