"""The site build's Sphinx extensions (``_config.yml``: ``local_extensions``)."""
