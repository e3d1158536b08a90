"""The reporter desk (``/desk/``): pages and forms that work without
JavaScript, enhanced by static/desk/desk.js. See docs/desk.md."""
