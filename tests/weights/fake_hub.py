"""A Hugging Face Hub in the layout huggingface_hub reads, served on 127.0.0.1 only, so
the real client code (metadata HEAD, download, cache) runs offline.

It answers what `hf_hub_download` / `get_hf_file_metadata` ask: HEAD and GET of
``/<owner>/<name>/resolve/<revision>/<file>``, with the Hub's headers (``X-Repo-Commit``;
``X-Linked-Etag``, the SHA-256 of an LFS file; ``X-Linked-Size``), and the Hub's 404s
(``X-Error-Code: RepoNotFound`` / ``EntryNotFound``). `corrupt` serves other bytes of the
same length than the file whose SHA-256 it reports (a download gone wrong).
"""
import contextlib
import hashlib
import http.server
import re
import threading

COMMIT = 'a' * 40
_RESOLVE = re.compile(r'^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$')


class FakeHub:

  def __init__(self, repos):
    """`repos`: repo_id -> {file name: bytes}."""
    self.repos, self.requests, self.corrupt = repos, [], set()
    hub = self

    class Handler(http.server.BaseHTTPRequestHandler):

      def do_HEAD(self):  # pylint: disable=invalid-name
        hub.answer(self, body=False)

      def do_GET(self):  # pylint: disable=invalid-name
        hub.answer(self, body=True)

      def log_message(self, *args):
        pass

    self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    self.url = f'http://127.0.0.1:{self.server.server_address[1]}'

  def answer(self, handler, body: bool):
    self.requests.append((handler.command, handler.path))
    m = _RESOLVE.match(handler.path.split('?')[0])
    if not m or m['repo'] not in self.repos:
      return self._error(handler, 'RepoNotFound')
    files = self.repos[m['repo']]
    if m['file'] not in files:
      return self._error(handler, 'EntryNotFound')
    data = files[m['file']]
    handler.send_response(200)
    handler.send_header('X-Repo-Commit', COMMIT)
    handler.send_header('X-Linked-Etag', f'"{hashlib.sha256(data).hexdigest()}"')
    handler.send_header('X-Linked-Size', str(len(data)))
    handler.send_header('Content-Length', str(len(data)))
    handler.end_headers()
    if body:
      handler.wfile.write(bytes(b ^ 1 for b in data[:64]) + data[64:]
                          if m['repo'] in self.corrupt else data)

  @staticmethod
  def _error(handler, code):
    handler.send_response(404)
    handler.send_header('X-Error-Code', code)
    handler.send_header('X-Repo-Commit', COMMIT)
    handler.send_header('Content-Length', '0')
    handler.end_headers()


@contextlib.contextmanager
def serving(repos):
  """A FakeHub answering on a loopback port until the block ends."""
  hub = FakeHub(repos)
  thread = threading.Thread(target=hub.server.serve_forever, kwargs={'poll_interval': 0.05},
                            daemon=True)
  thread.start()
  try:
    yield hub
  finally:
    hub.server.shutdown()
    hub.server.server_close()
    thread.join(timeout=10)
