"""Drop repeated script tags from every page.

sphinx-thebe 0.3 registers its inline configuration script
(``const THEBE_JS_URL = ...``) once per ``env-before-read-docs`` event, which
Jupyter Book emits more than once; the second copy throws
"Identifier 'THEBE_JS_URL' has already been declared" in every browser.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        # an inline script is registered with filename None or '': same script
        key = (
            getattr(js, "filename", js) or "",
            tuple(sorted(getattr(js, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app):
    app.connect(
        "html-page-context", _dedupe, priority=1
    )  # emit_firstresult: run before handlers that return a template
    return {"parallel_read_safe": True, "parallel_write_safe": True}
