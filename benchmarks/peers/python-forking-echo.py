#!/usr/bin/env python3
"""Peer: socketserver.ForkingTCPServer echo — a process per connection, as in the seeds'
multiprocessing servers. Usage: python3 python-forking-echo.py [PORT]  (or env PORT; 0 = any)."""
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


class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    max_children = 4096


MAIN_PID = os.getpid()


def on_signal(signum, frame):
    if os.getpid() != MAIN_PID:
        # a connection child: just go (the parent reaps us)
        os._exit(0)
    raise Stop()


def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get('PORT', '0'))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = Server(('127.0.0.1', port), Echo)
    print(f'listening 127.0.0.1:{server.server_address[1]} model=py-forking pid={os.getpid()}', flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for pid in list(server.active_children or ()):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        server.server_close()  # reaps every child (block_on_close)
    sys.exit(0)


if __name__ == '__main__':
    main()
