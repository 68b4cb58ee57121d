#!/usr/bin/env python3
"""Peer: socketserver.ThreadingTCPServer echo — a thread per connection.
Usage: python3 python-threading-echo.py [PORT]  (or env PORT; 0 = any free port)."""
import os
import socketserver
import sys

from echo_peer import serve


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == '__main__':
    serve(Server, 'py-threading')
    sys.stdout.flush()
    os._exit(0)  # daemon connection threads end with the process
