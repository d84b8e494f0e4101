"""Views of the sandbox API, one module per resource."""
