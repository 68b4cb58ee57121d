/*
 * Peer: single-threaded, level-triggered epoll echo server in C.
 *
 *   cc -O2 -o bin/c-epoll-echo c-epoll-echo.c
 *   bin/c-epoll-echo [PORT]        (or env PORT; 0 = any free port). Binds 127.0.0.1.
 *
 * Non-blocking sockets. Each connection has a fixed 64 KiB buffer: bytes read are written back
 * at once; whatever the kernel does not take (a partial write or EAGAIN) stays buffered and the
 * connection waits for EPOLLOUT. While the buffer is full the connection is not read, so a client
 * that sends but never reads gets TCP backpressure instead of growing the server's memory. No
 * byte is dropped or reordered. After the client's EOF the remaining bytes are flushed, then the
 * connection is closed. SIGTERM/SIGINT (via signalfd) end the process with status 0.
 *
 * With ECHOPLEX_PEER_STATS=1 a line of counters is written to stderr at exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define MAX_EVENTS 256

struct conn {
  int fd;
  uint32_t events; /* what is registered with epoll now */
  int eof;         /* the client finished sending */
  size_t start, end;
  unsigned char buf[BUF_SIZE];
};

static int epfd = -1;
static unsigned long long n_accepted, n_bytes, n_partial, n_eagain;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void conn_close(struct conn *c) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
}

/* Registers interest matching the buffer: read while there is room (and no EOF), write while bytes wait. */
static int conn_update(struct conn *c) {
  uint32_t want = 0;
  if (!c->eof && c->end < BUF_SIZE) want |= EPOLLIN;
  if (c->end > c->start) want |= EPOLLOUT;
  if (want == c->events) return 0;
  struct epoll_event ev = {.events = want, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) return -1;
  c->events = want;
  return 0;
}

/* Writes as much of the buffer as the socket takes. -1 on a fatal error. */
static int conn_flush(struct conn *c) {
  while (c->end > c->start) {
    ssize_t n = send(c->fd, c->buf + c->start, c->end - c->start, MSG_NOSIGNAL);
    if (n > 0) {
      if ((size_t)n < c->end - c->start) n_partial++;
      c->start += (size_t)n;
      n_bytes += (unsigned long long)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      n_eagain++;
      break;
    } else {
      return -1;
    }
  }
  if (c->start == c->end) {
    c->start = c->end = 0;
  } else if (c->start > 0 && c->end == BUF_SIZE) {
    /* make room at the end for more reads, keeping order */
    memmove(c->buf, c->buf + c->start, c->end - c->start);
    c->end -= c->start;
    c->start = 0;
  }
  return 0;
}

/* Reads while there is room; -1 on a fatal error. */
static int conn_read(struct conn *c) {
  while (!c->eof && c->end < BUF_SIZE) {
    ssize_t n = recv(c->fd, c->buf + c->end, BUF_SIZE - c->end, 0);
    if (n > 0) {
      c->end += (size_t)n;
      if (conn_flush(c) < 0) return -1;
    } else if (n == 0) {
      c->eof = 1;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      break;
    } else {
      return -1;
    }
  }
  return 0;
}

static void on_conn(struct conn *c, uint32_t events) {
  if (events & EPOLLERR) {
    conn_close(c);
    return;
  }
  if ((events & EPOLLOUT) && conn_flush(c) < 0) {
    conn_close(c);
    return;
  }
  if ((events & (EPOLLIN | EPOLLHUP)) && conn_read(c) < 0) {
    conn_close(c);
    return;
  }
  if (c->eof && c->end == c->start) {
    conn_close(c); /* everything echoed */
    return;
  }
  if (conn_update(c) < 0) conn_close(c);
}

static void on_accept(int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) return; /* retry on next wakeup */
      die("accept4");
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct conn *c = malloc(sizeof *c);
    if (c == NULL) {
      close(fd);
      continue;
    }
    c->fd = fd;
    c->eof = 0;
    c->start = c->end = 0;
    c->events = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
      close(fd);
      free(c);
      continue;
    }
    n_accepted++;
  }
}

int main(int argc, char **argv) {
  const char *port_s = argc > 1 ? argv[1] : getenv("PORT");
  long port = port_s != NULL ? strtol(port_s, NULL, 10) : 0;
  if (port < 0 || port > 65535) {
    fprintf(stderr, "bad port: %s\n", port_s);
    return 2;
  }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) die("sigprocmask");
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(lfd, 4096) < 0) die("listen");
  socklen_t alen = sizeof addr;
  if (getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) die("getsockname");

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  /* the listening socket and the signalfd are tagged with NULL-free sentinels */
  static int lfd_tag, sfd_tag;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &lfd_tag};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl listen");
  ev.data.ptr = &sfd_tag;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) < 0) die("epoll_ctl signalfd");

  printf("listening 127.0.0.1:%u model=c-epoll pid=%ld\n", (unsigned)ntohs(addr.sin_port), (long)getpid());
  fflush(stdout);

  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      void *tag = events[i].data.ptr;
      if (tag == &lfd_tag) {
        on_accept(lfd);
      } else if (tag == &sfd_tag) {
        struct signalfd_siginfo si;
        if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
          if (getenv("ECHOPLEX_PEER_STATS") != NULL) {
            fprintf(stderr, "stats accepted=%llu bytes=%llu partial_writes=%llu eagain=%llu\n", n_accepted, n_bytes,
                    n_partial, n_eagain);
          }
          close(lfd);
          return 0;
        }
      } else {
        on_conn((struct conn *)tag, events[i].events);
      }
    }
  }
}
