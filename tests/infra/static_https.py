"""Serve a folder over HTTPS on 127.0.0.1, for the infra scripts' tests: GET of a file answers
200 with its content (as JSON), anything else 404. Prints the port, then serves until killed.

Usage: python3 tests/infra/static_https.py FOLDER CERT KEY
"""
import http.server
import os
import ssl
import sys


def main(folder, cert, key):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = os.path.normpath(os.path.join(folder, self.path.lstrip("/")))
            if not path.startswith(os.path.abspath(folder)) or not os.path.isfile(path):
                self.send_response(404)
                self.end_headers()
                return
            with open(path, "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    folder, cert, key = sys.argv[1:4]
    main(os.path.abspath(folder), cert, key)
