"""``tfdl music studio``: a local web page to compose songs with a music model, see
them as notation (abcjs), check them, hear them and download them.

- `tfdl.music.studio.form`: the choices a model offers (meters, keys) and the check
  of a generate request, each error naming its field;
- `tfdl.music.studio.server`: the model behind a lock, the song files, and the
  Starlette app served by uvicorn;
- ``static/``: the page (``index.html``, ``studio.js``, ``studio.css``) and, in
  ``static/vendor/``, a pinned abcjs release (`tfdl.music.studio.vendor_abcjs`
  refreshes it from npm).
"""
