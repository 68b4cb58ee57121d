/*
 * Native load engine of the raw TCP generator: one engine's share of a run (see
 * packages/bench/src/load/engine.ts, whose behaviour this follows step for step), in C, so the
 * generator costs less CPU per round trip than the server it measures. Compiled on demand by
 * packages/bench/src/load/native.ts, which drives it as one engine of runTcpLoad().
 *
 * Supports persistent connections and churn (a connection per request: connect, send, verify the
 * reply, close; as ChurnConnections in connection-policy.ts), closed loop (pipeline slots) and open
 * loop (fixed rate, latency from the intended send time), framings raw/line/length, expected replies
 * echo/upper, warmup, amount, drain, connect timeout, reconnect with backoff. Not a custom expect
 * function.
 *
 *   tcp-load key=value ...   (keys: host port | path, framing, conns, first, total, payload, pipeline,
 *                             mode, rate, amount, duration, warmup, drain, ctimeout, expect, seqbase,
 *                             churn; times in ms)
 *
 * Protocol (lines):
 *   stdout  ready <ready> <failed>        after the connect phase (one verified probe per connection;
 *                                         churn has none: `ready 0 0` at once)
 *   stdin   start <absolute ms>           load starts then (epoch ms, the parent's absNow() clock)
 *   stdin   stop | abort | EOF            end now; the result still follows
 *   stdout  result <json>                 the EngineResult; latency histograms as [[µs, count], ...]
 *   stdout  error <message>               could not run (exit status 1)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SEQ_DIGITS 12
#define READ_BUF (256 * 1024)
#define MAX_EVENTS 512
#define HIST_DIRECT (1u << 21) /* µs values below this are counted in an array (~2.1 s) */
#define MAX_CODES 48

/* ---- configuration ------------------------------------------------------------------------- */

static struct {
  char host[256], port[16], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int framing; /* 0 raw, 1 line, 2 length */
  int conns, first, total;
  long payload, pipeline;
  int open_loop;
  double rate;
  long long amount; /* -1: no limit */
  double duration, warmup, drain, ctimeout, firstreply;
  int upper;
  int churn; /* a connection per request */
  uint64_t seqbase;
} cfg = {.conns = 1, .total = 1, .payload = 64, .pipeline = 1, .amount = -1, .duration = 1000, .drain = 1000, .ctimeout = 5000};

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("error ", stdout);
  vfprintf(stdout, fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  fflush(stdout);
  exit(1);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (eq == NULL) fail("bad argument: %s", argv[i]);
    *eq = 0;
    const char *k = argv[i], *v = eq + 1;
    if (!strcmp(k, "host")) snprintf(cfg.host, sizeof cfg.host, "%s", v);
    else if (!strcmp(k, "port")) snprintf(cfg.port, sizeof cfg.port, "%s", v);
    else if (!strcmp(k, "path")) {
      if (strlen(v) >= sizeof cfg.path) fail("socket path too long: %s", v);
      snprintf(cfg.path, sizeof cfg.path, "%s", v);
    } else if (!strcmp(k, "framing")) cfg.framing = !strcmp(v, "line") ? 1 : !strcmp(v, "length") ? 2 : !strcmp(v, "raw") ? 0 : -1;
    else if (!strcmp(k, "conns")) cfg.conns = atoi(v);
    else if (!strcmp(k, "first")) cfg.first = atoi(v);
    else if (!strcmp(k, "total")) cfg.total = atoi(v);
    else if (!strcmp(k, "payload")) cfg.payload = atol(v);
    else if (!strcmp(k, "pipeline")) cfg.pipeline = atol(v);
    else if (!strcmp(k, "mode")) cfg.open_loop = !strcmp(v, "open");
    else if (!strcmp(k, "rate")) cfg.rate = atof(v);
    else if (!strcmp(k, "amount")) cfg.amount = atoll(v);
    else if (!strcmp(k, "duration")) cfg.duration = atof(v);
    else if (!strcmp(k, "warmup")) cfg.warmup = atof(v);
    else if (!strcmp(k, "drain")) cfg.drain = atof(v);
    else if (!strcmp(k, "ctimeout")) cfg.ctimeout = atof(v);
    else if (!strcmp(k, "firstreply")) cfg.firstreply = atof(v);
    else if (!strcmp(k, "expect")) cfg.upper = !strcmp(v, "upper");
    else if (!strcmp(k, "seqbase")) cfg.seqbase = strtoull(v, NULL, 10);
    else if (!strcmp(k, "churn")) cfg.churn = atoi(v) != 0;
    else fail("unknown key: %s", k);
  }
  if (cfg.framing < 0) fail("framing must be raw, line or length");
  if (cfg.conns < 0 || cfg.payload < 1 || cfg.pipeline < 1 || cfg.total < 1) fail("bad sizes");
  if (cfg.open_loop && !(cfg.rate > 0)) fail("open loop needs a positive rate");
  if (cfg.churn) cfg.pipeline = 1;
  if (cfg.path[0] == 0 && cfg.port[0] == 0) fail("no target: port or path");
}

/* ---- clocks ---------------------------------------------------------------------------------- */

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* epoch ms minus monotonic ms: converts the parent's absolute times to ours and back */
static double abs_offset;

static void init_clock(void) {
  struct timespec rt;
  double m0 = mono_ms();
  clock_gettime(CLOCK_REALTIME, &rt);
  double m1 = mono_ms();
  abs_offset = ((double)rt.tv_sec * 1e3 + (double)rt.tv_nsec / 1e6) - (m0 + m1) / 2;
}

/* ---- latency histograms: exact counts per whole µs ------------------------------------------ */

struct hist {
  uint32_t *direct; /* calloc'd: untouched pages cost nothing */
  uint64_t *big;
  size_t nbig, capbig;
};

static void hist_init(struct hist *h) {
  h->direct = calloc(HIST_DIRECT, sizeof *h->direct);
  if (h->direct == NULL) fail("out of memory");
}

/* as recordLatencyMs: whole µs, at least 1 */
static void hist_record_ms(struct hist *h, double ms) {
  double r = round(ms * 1000);
  uint64_t us = r < 1 ? 1 : (uint64_t)r;
  if (us < HIST_DIRECT) {
    h->direct[us]++;
    return;
  }
  if (h->nbig == h->capbig) {
    h->capbig = h->capbig ? h->capbig * 2 : 64;
    h->big = realloc(h->big, h->capbig * sizeof *h->big);
    if (h->big == NULL) fail("out of memory");
  }
  h->big[h->nbig++] = us;
}

/* ---- per-second buckets (timelines): completions and a log histogram per second since start_at --
 * 16 buckets per power of two (about 4 % wide) are plenty for a per-second p99; each bucket is
 * reported at its upper bound. calloc'd: the seconds a run never reaches cost nothing. */
#define SEC_MAX 3600
#define SEC_SUB 16
#define SEC_BUCKETS (33 * SEC_SUB)
static uint32_t *sec_hist;
static long long sec_count[SEC_MAX];
static int sec_n;

static void sec_record(double at_ms, double lat_ms) {
  if (!(at_ms >= 0)) return;
  int i = (int)(at_ms / 1000);
  if (i >= SEC_MAX) return;
  if (sec_hist == NULL) {
    sec_hist = calloc((size_t)SEC_MAX * SEC_BUCKETS, sizeof *sec_hist);
    if (sec_hist == NULL) fail("out of memory");
  }
  double us = round(lat_ms * 1000);
  if (us < 1) us = 1;
  int b = (int)floor(log2(us) * SEC_SUB);
  if (b >= SEC_BUCKETS) b = SEC_BUCKETS - 1;
  sec_hist[(size_t)i * SEC_BUCKETS + (size_t)b]++;
  sec_count[i]++;
  if (i + 1 > sec_n) sec_n = i + 1;
}

static void sec_print(void) {
  printf("{\"intervalMs\":1000,\"completed\":[");
  for (int i = 0; i < sec_n; i++) printf("%s%lld", i ? "," : "", sec_count[i]);
  printf("],\"pairs\":[");
  for (int i = 0; i < sec_n; i++) {
    printf("%s[", i ? "," : "");
    int comma = 0;
    for (int b = 0; b < SEC_BUCKETS && sec_hist != NULL; b++) {
      uint32_t n = sec_hist[(size_t)i * SEC_BUCKETS + (size_t)b];
      if (n == 0) continue;
      printf("%s[%.0f,%u]", comma ? "," : "", ceil(exp2((double)(b + 1) / SEC_SUB)), n);
      comma = 1;
    }
    printf("]");
  }
  printf("]}");
}

static void hist_print(const struct hist *h) {
  fputc('[', stdout);
  int comma = 0;
  for (uint32_t us = 0; us < HIST_DIRECT; us++) {
    if (h->direct[us] == 0) continue;
    printf("%s[%u,%u]", comma ? "," : "", us, h->direct[us]);
    comma = 1;
  }
  for (size_t i = 0; i < h->nbig; i++) {
    printf("%s[%llu,1]", comma ? "," : "", (unsigned long long)h->big[i]);
    comma = 1;
  }
  fputc(']', stdout);
}

/* ---- errors ------------------------------------------------------------------------------------ */

static struct {
  long long total, refused, reset, timeout, closed, mismatch, other;
  const char *code[MAX_CODES];
  long long count[MAX_CODES];
  int ncodes;
  char names[MAX_CODES][24];
} errs;

/* as errorKindOf in engine.ts */
static void count_error(const char *code) {
  if (!strcmp(code, "ECONNREFUSED") || !strcmp(code, "ENOENT") || !strcmp(code, "EACCES")) errs.refused++;
  else if (!strcmp(code, "ECONNRESET") || !strcmp(code, "EPIPE") || !strcmp(code, "ECONNABORTED")) errs.reset++;
  else if (!strcmp(code, "ETIMEDOUT") || !strcmp(code, "CONNECT_TIMEOUT") || !strcmp(code, "REPLY_TIMEOUT") || !strcmp(code, "NO_REPLY")) errs.timeout++;
  else if (!strcmp(code, "EOF")) errs.closed++;
  else if (!strcmp(code, "MISMATCH")) errs.mismatch++;
  else errs.other++;
  errs.total++;
  for (int i = 0; i < errs.ncodes; i++) {
    if (!strcmp(errs.code[i], code)) {
      errs.count[i]++;
      return;
    }
  }
  if (errs.ncodes == MAX_CODES) return;
  snprintf(errs.names[errs.ncodes], sizeof errs.names[0], "%s", code);
  errs.code[errs.ncodes] = errs.names[errs.ncodes];
  errs.count[errs.ncodes++] = 1;
}

/* The errno names libuv reports to Node for the errors a client meets. */
static const char *errno_name(int e) {
  static char buf[24];
  switch (e) {
  case ECONNREFUSED: return "ECONNREFUSED";
  case ENOENT: return "ENOENT";
  case EACCES: return "EACCES";
  case ECONNRESET: return "ECONNRESET";
  case EPIPE: return "EPIPE";
  case ECONNABORTED: return "ECONNABORTED";
  case ETIMEDOUT: return "ETIMEDOUT";
  case EHOSTUNREACH: return "EHOSTUNREACH";
  case ENETUNREACH: return "ENETUNREACH";
  case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
  case EADDRINUSE: return "EADDRINUSE";
  case EMFILE: return "EMFILE";
  case ENFILE: return "ENFILE";
  case EAGAIN: return "EAGAIN";
  case ENOBUFS: return "ENOBUFS";
  case ENOMEM: return "ENOMEM";
  case EINVAL: return "EINVAL";
  case ENOTCONN: return "ENOTCONN";
  default: snprintf(buf, sizeof buf, "ERRNO_%d", e); return buf;
  }
}

/* ---- payloads (as payload.ts: template, hex sequence number in the first bytes) --------------- */

static const char TEMPLATE_CHARS[] = "abcdefghijklmnopqrstuvwxyz-0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZ.";
static unsigned char *req_template, *exp_template;
static size_t wire; /* request (and reply) size on the wire */
static size_t seq_off, digits;

static void write_seq(unsigned char *b, uint64_t seq, const char *hex) {
  for (size_t i = seq_off + digits; i-- > seq_off;) {
    b[i] = (unsigned char)hex[seq & 15];
    seq >>= 4;
  }
}

static void init_payloads(void) {
  size_t over = cfg.framing == 2 ? 4 : cfg.framing == 1 ? 1 : 0;
  size_t n = (size_t)cfg.payload;
  wire = n + over;
  seq_off = cfg.framing == 2 ? 4 : 0;
  digits = n < SEQ_DIGITS ? n : SEQ_DIGITS;
  req_template = malloc(wire);
  exp_template = malloc(wire);
  if (req_template == NULL || exp_template == NULL) fail("out of memory");
  size_t nt = sizeof TEMPLATE_CHARS - 1;
  for (size_t i = 0; i < n; i++) req_template[seq_off + i] = (unsigned char)TEMPLATE_CHARS[i % nt];
  if (cfg.framing == 2) {
    req_template[0] = (unsigned char)(n >> 24);
    req_template[1] = (unsigned char)(n >> 16);
    req_template[2] = (unsigned char)(n >> 8);
    req_template[3] = (unsigned char)n;
  } else if (cfg.framing == 1) {
    req_template[n] = '\n';
  }
  memcpy(exp_template, req_template, wire);
  if (cfg.upper) {
    for (size_t i = seq_off; i < seq_off + n; i++)
      if (exp_template[i] >= 'a' && exp_template[i] <= 'z') exp_template[i] -= 0x20;
  }
}

/* ---- connections ----------------------------------------------------------------------------- */

struct conn {
  int fd;
  int index; /* global (open-loop offset) */
  int connecting, first_byte, record_connect, probing;
  double conn_start;
  /* requests in flight, oldest first: a ring of `pipeline` slots */
  uint64_t *rseq;
  double *rstart;
  long head, size;
  size_t off;      /* bytes of the oldest reply verified so far */
  int exp_valid;   /* exp holds the oldest reply's expected bytes */
  unsigned char *exp;
  /* bytes not yet taken by the socket */
  unsigned char *out;
  size_t out_pos, out_len, out_cap;
  uint32_t events; /* registered with epoll */
  uint64_t next_k; /* open loop: index of the next request in this connection's schedule */
  int failures;
  double retry_at, connect_deadline; /* 0: none */
  /* churn: a request is claimed (counted as sent and in flight) before its connection connects */
  int pending;
  double pending_start;
};

enum phase { CONNECTING, READY, WAITING, RUNNING, DRAINING, DONE };

static struct conn *conns;
static int ep;
static enum phase phase = CONNECTING;
static struct addrinfo *addr;
static struct hist latency, connect_latency;
static uint64_t seq;
static long long remaining; /* measured requests still to send; LLONG_MAX: no limit */
static long long inflight, sent, completed, bytes_sent, bytes_received, mismatches, opened, ready_count;
static int settle_pending, failed_count, aborted, began;
static double t_now, start_at, measure_start = INFINITY, stop_at = INFINITY, send_stop = NAN, last_reply = NAN;
static double drain_deadline, next_tick = INFINITY, conn_timer_min = INFINITY;
/* connect phase: when no probe is answered by then, the server does not answer these requests */
static double quiet_at = 0;
static double interval_ms, gap_ms;
static struct rusage ru_start;
static double cpu_wall_start;
static unsigned char *rbuf;

static void set_conn_timer(double *slot, double at) {
  *slot = at;
  if (at < conn_timer_min) conn_timer_min = at;
}

static void want(struct conn *c, uint32_t ev) {
  if (c->fd < 0 || c->events == ev) return;
  struct epoll_event e = {.events = ev, .data.u64 = (uint64_t)(c - conns) + 1};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
  c->events = ev;
}

static long ring_clear(struct conn *c) {
  long n = c->size;
  c->head = c->size = 0;
  c->off = 0;
  c->exp_valid = 0;
  return n;
}

static void close_conn(struct conn *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->connecting = 0;
  c->connect_deadline = 0;
  c->out_pos = c->out_len = 0;
  c->events = 0;
}

static void print_ready(void) {
  printf("ready %lld %d\n", ready_count, failed_count);
  fflush(stdout);
}

static void settle(int ok) {
  if (ok) ready_count++;
  else failed_count++;
  if (--settle_pending == 0 && phase == CONNECTING) {
    phase = READY;
    print_ready();
  }
}

static void finish(void);
static void amount_done(void);
static void pump(struct conn *c);
static void open_socket(struct conn *c, int probe);

static void maybe_finish_drain(void) {
  if (phase == DRAINING && inflight <= 0) finish();
}

/* Removes a failed socket: counts the error, forgets its requests, reconnects if the run goes on. */
static void drop(struct conn *c, const char *code) {
  close_conn(c);
  if (phase == DONE) return;
  count_error(code);
  long dropped = ring_clear(c);
  if (c->pending) {
    /* a claimed request not written yet (churn, still connecting) counted as in flight too */
    if (dropped == 0) dropped = 1;
    c->pending = 0;
  }
  inflight -= dropped;
  if (c->probing) {
    c->probing = 0;
    settle(0);
    return;
  }
  if (phase == RUNNING) {
    if (remaining == 0 && inflight == 0) {
      amount_done();
      return;
    }
    c->failures++;
    /* back off on repeated failures so a dead server is not hammered in a tight loop */
    int f = c->failures - 1 < 8 ? c->failures - 1 : 8;
    double delay = 5.0 * (double)(1 << f);
    set_conn_timer(&c->retry_at, t_now + (delay < 1000 ? delay : 1000));
  } else if (phase == DRAINING) {
    maybe_finish_drain();
  }
}

/* Writes what the socket takes; returns 0, or -1 after dropping the connection. */
static int flush_out(struct conn *c) {
  while (c->out_pos < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_pos += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      want(c, EPOLLIN | EPOLLOUT);
      return 0;
    } else {
      drop(c, errno_name(errno));
      return -1;
    }
  }
  c->out_pos = c->out_len = 0;
  want(c, EPOLLIN);
  return 0;
}

/* Appends requests seq.. seq+k-1 to the output and queues their replies (latency from start_of(i));
   the caller counts them in flight. */
static void queue_requests(struct conn *c, long k, double fixed_start, int scheduled) {
  size_t need = c->out_len + (size_t)k * wire;
  if (need > c->out_cap) {
    if (c->out_pos > 0) {
      memmove(c->out, c->out + c->out_pos, c->out_len - c->out_pos);
      c->out_len -= c->out_pos;
      c->out_pos = 0;
      need = c->out_len + (size_t)k * wire;
    }
    if (need > c->out_cap) {
      c->out_cap = need * 2;
      c->out = realloc(c->out, c->out_cap);
      if (c->out == NULL) fail("out of memory");
    }
  }
  for (long i = 0; i < k; i++) {
    unsigned char *b = c->out + c->out_len;
    memcpy(b, req_template, wire);
    write_seq(b, seq, "0123456789abcdef");
    c->out_len += wire;
    long slot = (c->head + c->size) % cfg.pipeline;
    c->rseq[slot] = seq++;
    /* open loop: latency runs from the INTENDED send time (coordinated-omission correction) */
    c->rstart[slot] = scheduled ? start_at + (double)c->index * gap_ms + (double)(c->next_k + (uint64_t)i) * interval_ms : fixed_start;
    c->size++;
  }
}

static void account(long long measured, double t) {
  if (measured == 0) return;
  sent += measured;
  remaining -= measured;
  /* (churn counts a request's bytes when its connection writes them) */
  if (!cfg.churn) bytes_sent += measured * (long long)wire;
  if (remaining == 0) send_stop = t;
}

/* Sends as many requests on c as its free pipeline slots (closed) or its due schedule (open) allow. */
static void pump(struct conn *c) {
  if (c->fd < 0 || c->connecting || phase != RUNNING) return;
  long free_slots = cfg.pipeline - c->size;
  if (free_slots <= 0) return;
  double t = t_now;
  /* closed loop: nothing after the stop; open loop: requests intended before the stop still go
     out when the tick ran late (the loop below stops at stop_at) */
  if (t >= stop_at && !cfg.open_loop) return;
  long k = 0;
  long long measured = 0;
  if (!cfg.open_loop) {
    k = t >= measure_start ? (remaining < free_slots ? (long)remaining : free_slots) : free_slots;
    if (k == 0) return;
    if (t >= measure_start) measured = k;
    queue_requests(c, k, t, 0);
  } else {
    while (k < free_slots) {
      double at = start_at + (double)c->index * gap_ms + (double)(c->next_k + (uint64_t)k) * interval_ms;
      if (at > t || at >= stop_at) break;
      if (at >= measure_start) {
        if (measured >= remaining) break;
        measured++;
      }
      k++;
    }
    if (k == 0) return;
    queue_requests(c, k, 0, 1);
    c->next_k += (uint64_t)k;
  }
  inflight += k;
  account(measured, t);
  flush_out(c);
}

/* Churn: starts the next connect-request-close transaction on c, if one is due (the request is
   claimed now: its latency, and its connect latency, run from when it was due). */
static void churn_next(struct conn *c) {
  if (phase != RUNNING || c->fd >= 0 || c->retry_at > 0) return;
  double t = t_now, at = t;
  if (cfg.open_loop) {
    at = start_at + (double)c->index * gap_ms + (double)c->next_k * interval_ms;
    if (at > t) return; /* not due yet: a tick comes back for it */
  }
  if (at >= stop_at) return;
  long long measured = 0;
  if (at >= measure_start) {
    if (remaining <= 0) return;
    measured = 1;
  }
  if (cfg.open_loop) c->next_k++;
  inflight++;
  account(measured, t);
  c->pending = 1;
  c->pending_start = at;
  open_socket(c, 0);
}

/* Sends what is due on c (or, with churn, opens its next transaction's connection). */
static void poll_conn(struct conn *c) {
  if (cfg.churn) churn_next(c);
  else pump(c);
}

static void open_socket(struct conn *c, int probe) {
  int fd;
  if (cfg.path[0]) {
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memcpy(un.sun_path, cfg.path, strlen(cfg.path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket: %s", strerror(errno));
    c->fd = fd;
    c->conn_start = t_now;
    if (connect(fd, (struct sockaddr *)&un, sizeof un) < 0 && errno != EINPROGRESS) {
      c->connecting = 1;
      c->probing = probe;
      drop(c, errno_name(errno));
      return;
    }
  } else {
    fd = socket(addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->conn_start = t_now;
    if (connect(fd, addr->ai_addr, addr->ai_addrlen) < 0 && errno != EINPROGRESS) {
      c->connecting = 1;
      c->probing = probe;
      drop(c, errno_name(errno));
      return;
    }
  }
  c->connecting = 1;
  c->probing = probe;
  c->first_byte = 0;
  /* measured when the connection starts inside the measured window (the probe's always is); with
     churn a connection belongs to its request: measured when the request is */
  c->record_connect = probe || (cfg.churn ? c->pending_start : c->conn_start) >= measure_start;
  c->events = EPOLLIN | EPOLLOUT;
  struct epoll_event e = {.events = c->events, .data.u64 = (uint64_t)(c - conns) + 1};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) fail("epoll_ctl: %s", strerror(errno));
  set_conn_timer(&c->connect_deadline, t_now + cfg.ctimeout);
}

static void on_connected(struct conn *c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err != 0) {
    drop(c, errno_name(err));
    return;
  }
  c->connecting = 0;
  want(c, EPOLLIN);
  if (c->probing) {
    if (quiet_at == 0 && cfg.firstreply > 0 && cfg.firstreply < cfg.ctimeout) {
      quiet_at = t_now + cfg.firstreply;
      set_conn_timer(&quiet_at, quiet_at);
    }
    /* the connect timeout also covers the probe's reply */
    queue_requests(c, 1, -INFINITY, 0);
    inflight++;
    flush_out(c);
    return;
  }
  c->connect_deadline = 0;
  if (c->record_connect) opened++;
  c->failures = 0;
  if (cfg.churn) {
    /* already counted in flight when claimed; the reply takes it off */
    queue_requests(c, 1, c->pending_start, 0);
    if (c->pending_start >= measure_start) bytes_sent += (long long)wire;
    flush_out(c);
    return;
  }
  pump(c);
}

/* The first mismatch, as the Node engine words it: `expected "…", got "…"` (JSON-escaped, shortened). */
static char first_mismatch[400];

static size_t json_preview(char *out, size_t room, const unsigned char *b, size_t n) {
  size_t k = 0, shown = n < 40 ? n : 40;
  k += (size_t)snprintf(out + k, room - k, "\\\"");
  for (size_t i = 0; i < shown && k + 8 < room; i++) {
    unsigned char ch = b[i];
    if (ch == '"' || ch == '\\') k += (size_t)snprintf(out + k, room - k, "\\\\\\%c", ch);
    else if (ch == '\n') k += (size_t)snprintf(out + k, room - k, "\\\\n");
    else if (ch < 0x20 || ch >= 0x7f) k += (size_t)snprintf(out + k, room - k, "\\\\u%04x", ch);
    else out[k++] = (char)ch;
  }
  if (n > shown) k += (size_t)snprintf(out + k, room - k, "…\\\" (%zu B)", n);
  else k += (size_t)snprintf(out + k, room - k, "\\\"");
  out[k < room ? k : room - 1] = 0;
  return k;
}

static void note_mismatch(const unsigned char *want, size_t want_n, const unsigned char *got, size_t got_n) {
  if (first_mismatch[0]) return;
  size_t k = (size_t)snprintf(first_mismatch, sizeof first_mismatch, "expected ");
  k += json_preview(first_mismatch + k, sizeof first_mismatch - k, want, want_n);
  if (k < sizeof first_mismatch) k += (size_t)snprintf(first_mismatch + k, sizeof first_mismatch - k, ", got ");
  if (k < sizeof first_mismatch) json_preview(first_mismatch + k, sizeof first_mismatch - k, got, got_n);
}

/* Checks received bytes against the expected replies, oldest first; 0 on the first difference. */
static int feed(struct conn *c, const unsigned char *p, size_t len) {
  while (len > 0) {
    if (c->size == 0) { note_mismatch((const unsigned char *)"", 0, p, len); return 0; } /* bytes nobody asked for */
    if (!c->exp_valid) {
      if (c->exp == NULL && (c->exp = malloc(wire)) == NULL) fail("out of memory");
      memcpy(c->exp, exp_template, wire);
      write_seq(c->exp, c->rseq[c->head], cfg.upper ? "0123456789ABCDEF" : "0123456789abcdef");
      c->exp_valid = 1;
    }
    size_t n = wire - c->off < len ? wire - c->off : len;
    if (memcmp(p, c->exp + c->off, n) != 0) { note_mismatch(c->exp + c->off, wire - c->off, p, len); return 0; }
    p += n;
    len -= n;
    c->off += n;
    if (c->off == wire) {
      double start = c->rstart[c->head];
      c->head = (c->head + 1) % cfg.pipeline;
      c->size--;
      c->off = 0;
      c->exp_valid = 0;
      inflight--;
      /* (probes start at -INFINITY: not load) */
      if (start > -INFINITY) sec_record(t_now - start_at, t_now - start);
      if (start >= measure_start) {
        completed++;
        bytes_received += (long long)wire;
        hist_record_ms(&latency, t_now - start);
        last_reply = t_now;
      }
    }
  }
  return 1;
}

static void on_readable(struct conn *c) {
  for (;;) {
    ssize_t n = recv(c->fd, rbuf, READ_BUF, 0);
    if (n == 0) {
      drop(c, "EOF");
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) drop(c, errno_name(errno));
      return;
    }
    if (!c->first_byte) {
      c->first_byte = 1;
      if (c->record_connect) hist_record_ms(&connect_latency, t_now - c->conn_start);
    }
    if (!feed(c, rbuf, (size_t)n)) {
      mismatches++;
      drop(c, "MISMATCH");
      return;
    }
    int closed = 0;
    if (c->probing) {
      if (c->size == 0) {
        c->connect_deadline = 0;
        c->probing = 0;
        settle(1);
      }
    } else if (cfg.churn) {
      if (c->size == 0) {
        /* transaction done: close and go on with the next (which may reuse c for a new socket) */
        c->pending = 0;
        close_conn(c);
        closed = 1;
        churn_next(c);
      }
    } else if (phase == RUNNING) {
      pump(c);
    }
    if (phase == DRAINING) maybe_finish_drain();
    else if (remaining == 0 && inflight == 0 && phase == RUNNING) amount_done();
    /* a full buffer may mean more is waiting; otherwise the next epoll_wait tells */
    if ((size_t)n < READ_BUF || c->fd < 0 || closed) return;
  }
}

/* ---- phases ---------------------------------------------------------------------------------- */

static void begin(void) {
  if (phase == DONE) return;
  phase = RUNNING;
  began = 1;
  getrusage(RUSAGE_SELF, &ru_start);
  cpu_wall_start = t_now;
  for (int i = 0; i < cfg.conns; i++) conns[i].probing = 0;
  if (remaining <= 0) {
    amount_done();
    return;
  }
  for (int i = 0; i < cfg.conns && phase == RUNNING; i++) {
    struct conn *c = &conns[i];
    if (cfg.churn) churn_next(c);
    else if (c->fd < 0) open_socket(c, 0);
    else pump(c);
  }
  if (cfg.open_loop) next_tick = t_now;
}

static void amount_done(void) {
  if (isnan(send_stop)) send_stop = t_now;
  finish();
}

static void begin_drain(void) {
  if (phase != RUNNING) return;
  /* the open loop's requests intended before the stop go out even if the last tick was late */
  if (cfg.open_loop)
    for (int i = 0; i < cfg.conns && phase == RUNNING; i++) poll_conn(&conns[i]);
  if (phase != RUNNING) return;
  phase = DRAINING;
  if (isnan(send_stop)) send_stop = stop_at;
  next_tick = INFINITY;
  for (int i = 0; i < cfg.conns; i++) {
    struct conn *c = &conns[i];
    c->retry_at = 0;
    /* (re)connecting persistent connections have nothing outstanding: give up on them now; a churn
       transaction under way gets the drain window like any outstanding request */
    if (c->fd >= 0 && c->connecting && !c->pending) close_conn(c);
  }
  if (inflight <= 0) {
    finish();
    return;
  }
  drain_deadline = t_now + cfg.drain;
}

/* Open loop: sends what is due on every connection; the next intended time sets the next tick. */
static void tick(void) {
  double next = INFINITY;
  for (int i = 0; i < cfg.conns; i++) {
    struct conn *c = &conns[i];
    poll_conn(c);
    if (phase != RUNNING) return;
    double at = start_at + (double)c->index * gap_ms + (double)c->next_k * interval_ms;
    if (at < next) next = at;
  }
  /* a request already due but held back (pipeline full, amount reached, connection down) goes out
     when a reply or reconnect comes; meanwhile look again in 1 ms, as the Node engine does */
  next_tick = next >= stop_at ? INFINITY : next > t_now ? next : t_now + 1;
}

static double secs(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static void print_result(double scheduled, double unsent) {
  double ms = isfinite(measure_start) ? measure_start : t_now;
  double ss = send_stop > ms ? send_stop : ms;
  double lr = isnan(last_reply) ? ms : last_reply;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("result {\"connectionsOpened\":%lld,\"connectionsReady\":%lld,\"sent\":%lld,\"completed\":%lld,\"incomplete\":%lld,"
         "\"scheduled\":%.0f,\"unsent\":%.0f,\"bytesSent\":%lld,\"bytesReceived\":%lld,\"mismatches\":%lld,",
         opened, ready_count, sent, completed, sent - completed, scheduled, unsent, bytes_sent, bytes_received, mismatches);
  printf("\"errors\":{\"total\":%lld,\"refused\":%lld,\"reset\":%lld,\"timeout\":%lld,\"closed\":%lld,\"mismatch\":%lld,\"other\":%lld,\"byCode\":{",
         errs.total, errs.refused, errs.reset, errs.timeout, errs.closed, errs.mismatch, errs.other);
  for (int i = 0; i < errs.ncodes; i++) printf("%s\"%s\":%lld", i ? "," : "", errs.code[i], errs.count[i]);
  printf("}},");
  if (first_mismatch[0]) printf("\"firstMismatch\":\"%s\",", first_mismatch);
  printf("\"latency\":");
  hist_print(&latency);
  printf(",\"connectLatency\":");
  hist_print(&connect_latency);
  printf(",\"seconds\":");
  sec_print();
  printf(",\"measureStart\":%.6f,\"sendStop\":%.6f,\"lastReply\":%.6f,", ms + abs_offset, ss + abs_offset, lr + abs_offset);
  if (began) {
    printf("\"cpu\":{\"userSec\":%.6f,\"systemSec\":%.6f,\"wallSec\":%.6f},", secs(ru.ru_utime) - secs(ru_start.ru_utime),
           secs(ru.ru_stime) - secs(ru_start.ru_stime), (t_now - cpu_wall_start) / 1000);
  } else {
    printf("\"cpu\":null,");
  }
  printf("\"processCpu\":{\"userSec\":%.6f,\"systemSec\":%.6f},\"aborted\":%s}\n", secs(ru.ru_utime), secs(ru.ru_stime),
         aborted ? "true" : "false");
  fflush(stdout);
}

static void finish(void) {
  if (phase == DONE) return;
  double t = t_now;
  if (isnan(send_stop)) send_stop = t < stop_at ? t : stop_at;
  /* requests still unanswered: one timeout per connection that has any */
  for (int i = 0; i < cfg.conns; i++) {
    struct conn *c = &conns[i];
    if ((c->size > 0 || c->pending) && c->fd >= 0 && !aborted) count_error("REPLY_TIMEOUT");
    ring_clear(c);
    c->pending = 0;
  }
  inflight = 0;
  phase = DONE;
  for (int i = 0; i < cfg.conns; i++) close_conn(&conns[i]);
  double scheduled = 0, unsent = 0;
  if (cfg.open_loop && began) {
    double from = measure_start - start_at, until = stop_at - start_at;
    for (int i = 0; i < cfg.conns; i++) {
      struct conn *c = &conns[i];
      double first = (double)c->index * gap_ms;
      double k_from = fmax(0, ceil((from - first) / interval_ms));
      double k_until = until > first ? ceil((until - first) / interval_ms) : 0;
      scheduled += fmax(0, k_until - k_from);
      unsent += fmax(0, k_until - fmax(k_from, (double)c->next_k));
    }
    if (cfg.amount >= 0) {
      scheduled = fmin(scheduled, (double)cfg.amount);
      unsent = fmax(0, scheduled - (double)sent);
    }
  }
  print_result(scheduled, unsent);
}

/* Ends now (the parent said stop/abort, or went away): outstanding requests are dropped. */
static void stop_now(void) {
  if (phase == DONE) return;
  aborted = 1;
  finish();
}

/* ---- commands from the parent ------------------------------------------------------------------ */

static char cmd[256];
static size_t cmd_len;

static void on_command(const char *line) {
  if (!strncmp(line, "start ", 6) && (phase == READY || phase == CONNECTING)) {
    start_at = atof(line + 6) - abs_offset;
    measure_start = start_at + cfg.warmup;
    stop_at = measure_start + cfg.duration;
    phase = WAITING;
  } else if (!strcmp(line, "stop") || !strcmp(line, "abort")) {
    stop_now();
  }
}

static void on_stdin(void) {
  for (;;) {
    ssize_t n = read(0, cmd + cmd_len, sizeof cmd - 1 - cmd_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    if (n == 0) { /* the parent is gone or done with us */
      stop_now();
      return;
    }
    cmd_len += (size_t)n;
    cmd[cmd_len] = 0;
    char *nl;
    while ((nl = strchr(cmd, '\n')) != NULL) {
      *nl = 0;
      on_command(cmd);
      size_t used = (size_t)(nl - cmd) + 1;
      memmove(cmd, nl + 1, cmd_len - used + 1);
      cmd_len -= used;
    }
    if (cmd_len == sizeof cmd - 1) cmd_len = 0; /* a line that long is garbage */
  }
}

/* ---- timers ------------------------------------------------------------------------------------ */

static void run_conn_timers(void) {
  double min = INFINITY;
  for (int i = 0; i < cfg.conns; i++) {
    struct conn *c = &conns[i];
    /* connected but unanswered: the probe's reply is what is missing, not the connection */
    if (c->connect_deadline > 0 && c->fd >= 0 && t_now >= c->connect_deadline) drop(c, c->probing && !c->connecting ? "NO_REPLY" : "CONNECT_TIMEOUT");
    if (c->retry_at > 0 && t_now >= c->retry_at) {
      c->retry_at = 0;
      if (phase == RUNNING) {
        if (cfg.churn) churn_next(c);
        else open_socket(c, 0);
      }
    }
    /* what is left (or was just set) on this connection */
    if (c->connect_deadline > 0 && c->fd >= 0 && c->connect_deadline < min) min = c->connect_deadline;
    if (c->retry_at > 0 && c->retry_at < min) min = c->retry_at;
  }
  if (quiet_at > 0 && t_now >= quiet_at) {
    quiet_at = -1; /* once */
    if (phase == CONNECTING && ready_count == 0) {
      for (int i = 0; i < cfg.conns; i++) {
        struct conn *c = &conns[i];
        if (c->probing && c->fd >= 0 && !c->connecting) drop(c, "NO_REPLY");
      }
    }
  }
  if (quiet_at > 0 && quiet_at < min) min = quiet_at;
  conn_timer_min = min;
}

static double next_deadline(void) {
  double d = conn_timer_min;
  if (phase == WAITING && start_at < d) d = start_at;
  if (phase == RUNNING && stop_at < d) d = stop_at;
  if (phase == RUNNING && next_tick < d) d = next_tick;
  if (phase == DRAINING && drain_deadline < d) d = drain_deadline;
  return d;
}

static void run_timers(void) {
  if (phase == WAITING && t_now >= start_at) begin();
  if (phase == RUNNING && t_now >= stop_at) begin_drain();
  if (phase == DRAINING && t_now >= drain_deadline) finish();
  if (phase == RUNNING && cfg.open_loop && t_now >= next_tick) tick();
  if (t_now >= conn_timer_min) run_conn_timers();
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the generator that started us */
  signal(SIGPIPE, SIG_IGN);
  parse_args(argc, argv);
  init_clock();
  init_payloads();
  hist_init(&latency);
  hist_init(&connect_latency);
  if (!cfg.path[0]) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = getaddrinfo(cfg.host[0] ? cfg.host : "127.0.0.1", cfg.port, &hints, &addr);
    if (rc != 0) fail("cannot resolve %s: %s", cfg.host, gai_strerror(rc));
  }
  gap_ms = cfg.open_loop ? 1000.0 / cfg.rate : 0;
  interval_ms = gap_ms * cfg.total;
  seq = cfg.seqbase;
  remaining = cfg.amount >= 0 ? cfg.amount : INT64_MAX;
  rbuf = malloc(READ_BUF);
  conns = calloc((size_t)(cfg.conns > 0 ? cfg.conns : 1), sizeof *conns);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (rbuf == NULL || conns == NULL || ep < 0) fail("cannot set up: %s", strerror(errno));
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event se = {.events = EPOLLIN, .data.u64 = 0};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &se) < 0) fail("stdin must be a pipe: %s", strerror(errno));

  t_now = mono_ms();
  settle_pending = cfg.conns;
  for (int i = 0; i < cfg.conns; i++) {
    struct conn *c = &conns[i];
    c->fd = -1;
    c->index = cfg.first + i;
    c->rseq = malloc((size_t)cfg.pipeline * sizeof *c->rseq);
    c->rstart = malloc((size_t)cfg.pipeline * sizeof *c->rstart);
    if (c->rseq == NULL || c->rstart == NULL) fail("out of memory");
  }
  /* churn: nothing to prepare (no connection outlives its request) */
  if (cfg.conns == 0 || cfg.churn) {
    settle_pending = 0;
    phase = READY;
    print_ready();
  } else {
    for (int i = 0; i < cfg.conns; i++) open_socket(&conns[i], 1);
  }

  struct epoll_event events[MAX_EVENTS];
  while (phase != DONE) {
    t_now = mono_ms();
    run_timers();
    if (phase == DONE) break;
    double d = next_deadline();
    int timeout = 1000;
    if (d - t_now < 1000) timeout = d <= t_now ? 0 : (int)ceil(d - t_now);
    int n = epoll_wait(ep, events, MAX_EVENTS, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("epoll_wait: %s", strerror(errno));
    }
    for (int i = 0; i < n && phase != DONE; i++) {
      t_now = mono_ms();
      uint64_t tag = events[i].data.u64;
      if (tag == 0) {
        on_stdin();
        continue;
      }
      struct conn *c = &conns[tag - 1];
      if (c->fd < 0) continue; /* closed earlier in this batch */
      uint32_t ev = events[i].events;
      if (c->connecting) {
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(c);
        continue;
      }
      if ((ev & EPOLLOUT) && flush_out(c) < 0) continue;
      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
  }
  return 0;
}
