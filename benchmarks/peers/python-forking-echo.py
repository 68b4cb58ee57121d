#!/usr/bin/env python3
"""Peer: socketserver.ForkingTCPServer echo — a process per connection, as in the seeds'
multiprocessing servers. Usage: python3 python-forking-echo.py [PORT]  (or env PORT; 0 = any)."""
import os
import signal
import socketserver
import sys

from echo_peer import serve


class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    max_children = 4096


MAIN_PID = os.getpid()


def close(server):
    for pid in list(server.active_children or ()):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    server.server_close()  # reaps every child (block_on_close)


if __name__ == '__main__':
    serve(Server, 'py-forking', in_child=lambda: os.getpid() != MAIN_PID, close=close)
    sys.exit(0)
