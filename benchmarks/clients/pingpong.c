/*
 * Minimal C ping-pong client: the yardstick the load generator is compared with
 * (benchmarks/generator-ceiling.mjs). N connections, each with one request of SIZE bytes in flight:
 * send it, read the whole echo back, check every byte, count a round trip, send the next.
 *
 *   cc -O2 -o bin/pingpong pingpong.c
 *   bin/pingpong HOST PORT CONNECTIONS SIZE SECONDS [WARMUP_SECONDS]
 *
 * One thread, level-triggered epoll, non-blocking sockets with TCP_NODELAY. Each request differs
 * (its first bytes are a per-connection counter), so stale or reordered data is caught. Round trips
 * are counted from the end of the warmup to SECONDS later, and so is the client's CPU time (user +
 * system seconds). Prints one line:
 *   pingpong connections=N size=B seconds=S roundtrips=R rate=R/s cpu=C mismatches=M errors=E
 * Exits 1 on a mismatch or connection error, 2 on bad arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
  int fd;
  uint64_t counter;
  size_t sent, got; /* bytes of the current request written, and of its echo read */
  unsigned char *req, *in;
};

static size_t size;

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void next_request(struct conn *c) {
  c->counter++;
  for (size_t i = 0; i < size && i < 12; i++) c->req[i] = (unsigned char)("0123456789abcdef"[(c->counter >> (4 * i)) & 15]);
  c->sent = c->got = 0;
}

/* Writes what is left of the request: 1 when it all went out, 0 when the socket is full, -1 on error. */
static int pump(struct conn *c) {
  while (c->sent < size) {
    ssize_t n = send(c->fd, c->req + c->sent, size - c->sent, MSG_NOSIGNAL);
    if (n > 0) c->sent += (size_t)n;
    else if (n < 0 && errno == EINTR) continue;
    else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    else return -1;
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: pingpong HOST PORT CONNECTIONS SIZE SECONDS [WARMUP_SECONDS]\n");
    return 2;
  }
  int port = atoi(argv[2]), nconn = atoi(argv[3]);
  size = (size_t)atol(argv[4]);
  double seconds = atof(argv[5]), warmup = argc > 6 ? atof(argv[6]) : 0;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (port <= 0 || port > 65535 || nconn <= 0 || size == 0 || seconds <= 0 || warmup < 0 ||
      inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
    fprintf(stderr, "pingpong: bad arguments (HOST is an IPv4 address)\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct conn *conns = calloc((size_t)nconn, sizeof *conns);
  if (ep < 0 || conns == NULL) return 1;
  for (int i = 0; i < nconn; i++) {
    struct conn *c = &conns[i];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
      perror("pingpong: connect");
      return 1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->req = malloc(size);
    c->in = malloc(size);
    for (size_t j = 0; j < size; j++) c->req[j] = (unsigned char)('A' + (j + (size_t)i) % 26);
    c->counter = (uint64_t)i << 40;
    next_request(c);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0 || pump(c) < 0) {
      perror("pingpong: send");
      return 1;
    }
  }
  unsigned long long counted = 0, mismatches = 0, errors = 0;
  double t0 = now_s(), from = t0 + warmup, until = from + seconds, t = t0, cpu0 = -1;
  struct epoll_event events[256];
  while ((t = now_s()) < until && mismatches == 0 && errors == 0) {
    if (cpu0 < 0 && t >= from) cpu0 = cpu_s();
    int n = epoll_wait(ep, events, 256, 100);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      struct conn *c = events[i].data.ptr;
      if (events[i].events & EPOLLOUT) {
        int r = pump(c);
        if (r < 0) { errors++; continue; }
        if (r == 1) {
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
      }
      if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t r = recv(c->fd, c->in + c->got, size - c->got, 0);
      if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        errors++;
        continue;
      }
      /* the server may echo before the whole request is out: compare what both sides have */
      if ((size_t)r + c->got > c->sent || memcmp(c->in + c->got, c->req + c->got, (size_t)r) != 0) {
        mismatches++;
        continue;
      }
      c->got += (size_t)r;
      if (c->got < size) continue;
      if (now_s() >= from) counted++;
      next_request(c);
      int w = pump(c);
      if (w < 0) errors++;
      else if (w == 0) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
      }
    }
  }
  double measured = (t < until ? t : until) - from;
  double cpu = cpu0 < 0 ? 0 : cpu_s() - cpu0;
  printf("pingpong connections=%d size=%zu seconds=%.3f roundtrips=%llu rate=%.0f cpu=%.6f mismatches=%llu errors=%llu\n", nconn,
         size, measured, counted, measured > 0 ? (double)counted / measured : 0.0, cpu, mismatches, errors);
  for (int i = 0; i < nconn; i++) close(conns[i].fd);
  return mismatches == 0 && errors == 0 ? 0 : 1;
}
