"""What the two Python socketserver peers share: the echo handler, the listening line, and a stop on
SIGTERM/SIGINT that ends serve_forever. Each peer script passes its server class and its cleanup."""
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


def serve(server_class, name, in_child=lambda: False, close=lambda server: server.server_close()):
    """Serves echo on 127.0.0.1:[argv[1] or $PORT or 0] until SIGTERM/SIGINT, then `close(server)`."""
    def on_signal(signum, frame):
        if in_child():
            os._exit(0)  # a connection child: just go (the parent reaps it)
        raise Stop()

    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get('PORT', '0'))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = server_class(('127.0.0.1', port), Echo)
    print(f'listening 127.0.0.1:{server.server_address[1]} model={name} pid={os.getpid()}', flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        close(server)
