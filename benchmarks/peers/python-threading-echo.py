#!/usr/bin/env python3
"""Peer: socketserver.ThreadingTCPServer echo — a thread per connection.
Usage: python3 python-threading-echo.py [PORT]  (or env PORT; 0 = any free port)."""
import os
import signal
import socketserver
import sys


class Stop(Exception):
    pass


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        while True:
            data = sock.recv(65536)
            if not data:
                break
            sock.sendall(data)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def on_signal(signum, frame):
    raise Stop()


def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get('PORT', '0'))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = Server(('127.0.0.1', port), Echo)
    print(f'listening 127.0.0.1:{server.server_address[1]} model=py-threading pid={os.getpid()}', flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        server.server_close()
    sys.stdout.flush()
    os._exit(0)  # daemon connection threads end with the process


if __name__ == '__main__':
    main()
