/*
 * Kernel accept for fork children (`serve --model fork-reuse --accept kernel`): Apache httpd's
 * prefork, where each idle child waits on the one listening socket and the kernel wakes one of them
 * per connection, so the primary is not on a connection's path at all.
 *
 * Node cannot do this itself: a listening net.Server accepts whenever its socket is readable (it
 * cannot be paused short of closing it), and every listener of a shared socket is woken for each
 * connection. So a Node-API addon, compiled on demand with the system C compiler by
 * packages/server/src/sources/kernel-accept.ts. A child that finishes a connection first takes the
 * next one waiting in the queue at once (acceptNow, on its own thread: under load it never sleeps);
 * only when none waits does acceptOne() wait on a libuv threadpool thread, in an epoll instance the
 * child keeps, with EPOLLEXCLUSIVE (the kernel wakes one waiting child, not all: the earliest started
 * of those waiting, see wait_set), while the child's event loop runs on (heartbeats, broadcasts,
 * shutdown).
 *
 * The Node-API declarations it uses are written out below (the ABI is stable), so building needs no
 * Node headers, only a C compiler.
 *
 *   prepare(fd, timeoutMs)  non-blocking mode; a waiting acceptOne() looks whether it was cancelled
 *                           every timeoutMs
 *   dup(fd) -> fd           a close-on-exec duplicate
 *   close(fd)
 *   queued(fd) -> n         connections completed and waiting in the accept queue (-1: unknown)
 *   acceptNow(fd) -> fd | -errno            -EAGAIN when none waits
 *   acceptOne(fd[, once]) -> Promise<fd | -errno>   waits for one; -ECANCELED when cancelAccepts() was
 *                           called after it; with `once`, -EAGAIN when none came within timeoutMs
 *   cancelAccepts()         accepts in flight end (within timeoutMs); later ones run as usual
 *   peerClosed(fd) -> 0 | 1  whether an accepted connection's client already sent its FIN (nothing else)
 *   boardCreate(bytes) -> fd            a shared memory file (memfd) for the children's scoreboard
 *   boardMap(fd, bytes) -> ArrayBuffer  that memory, mapped shared: the primary and every child see
 *                                       one another's writes (httpd's scoreboard), no message needed
 *   parentDeath(signal) -> ppid | -errno  the kernel sends `signal` to this process when its parent
 *                           dies (prctl PR_SET_PDEATHSIG, what `setpriv --pdeathsig` sets before it
 *                           execs: a fork child saves that exec); the parent's pid once it is set, so
 *                           the caller can tell a parent that died before
 *
 * And the zygote (fork-zygote-run.ts: strict fork's children are fork()s of one warm process, as in
 * the seeds' server and Python's ForkingMixIn, instead of a Node boot each):
 *   warmFork() -> pid | 0 | -errno  fork() this process. V8 marks its heap MADV_DONTFORK (a child would
 *                           find no heap), so every mapping is made inheritable first; in the child
 *                           libuv's loop gets its own epoll instance and wake-up descriptors
 *                           (uv_loop_fork). Only the calling thread exists in the child: the zygote runs
 *                           V8 with --single-threaded (no background task is ever waited for), and
 *                           libuv's threadpool starts anew in the child on first use (its atfork)
 *   exitNow(code)           _exit(): Node's own exit joins threads a forked child does not have
 *   reap() -> [pid, code, signal] | undefined   a child that ended (waitpid -1, WNOHANG); code or
 *                           signal is -1 when not the way it ended
 *   reapOrphans(keep) -> n  reaps every child that ended except `keep` (one libuv waits for): orphans
 *                           reparented here, whoever knew of them
 *   socketPair() -> [fd, fd] | -errno   a connected pair of UNIX stream sockets (close-on-exec)
 *   subreaper() -> 0 | -errno   orphaned descendants are reparented to this process
 *                           (PR_SET_CHILD_SUBREAPER): a zygote's children, if the zygote dies first
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the Node-API subset used (js_native_api.h, node_api.h) ---------------------------------- */
typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_deferred__ *napi_deferred;
typedef struct napi_async_work__ *napi_async_work;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status; /* napi_ok is 0 */
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);
typedef void (*napi_async_execute_callback)(napi_env env, void *data);
typedef void (*napi_async_complete_callback)(napi_env env, napi_status status, void *data);
typedef void (*napi_finalize)(napi_env env, void *finalize_data, void *finalize_hint);
#define NAPI_AUTO_LENGTH SIZE_MAX

extern napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
extern napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
extern napi_status napi_get_cb_info(napi_env, napi_callback_info, size_t *, napi_value *, napi_value *, void **);
extern napi_status napi_get_value_int32(napi_env, napi_value, int32_t *);
extern napi_status napi_create_int32(napi_env, int32_t, napi_value *);
extern napi_status napi_get_undefined(napi_env, napi_value *);
extern napi_status napi_throw_error(napi_env, const char *, const char *);
extern napi_status napi_create_promise(napi_env, napi_deferred *, napi_value *);
extern napi_status napi_resolve_deferred(napi_env, napi_deferred, napi_value);
extern napi_status napi_create_string_utf8(napi_env, const char *, size_t, napi_value *);
extern napi_status napi_create_async_work(napi_env, napi_value, napi_value, napi_async_execute_callback,
                                          napi_async_complete_callback, void *, napi_async_work *);
extern napi_status napi_queue_async_work(napi_env, napi_async_work);
extern napi_status napi_delete_async_work(napi_env, napi_async_work);
extern napi_status napi_create_array_with_length(napi_env, size_t, napi_value *);
extern napi_status napi_set_element(napi_env, napi_value, uint32_t, napi_value);
extern napi_status napi_get_uv_event_loop(napi_env, void **);
extern int uv_loop_fork(void *);
extern napi_status napi_create_external_arraybuffer(napi_env, void *, size_t, napi_finalize, void *, napi_value *);

/* ---- helpers ---------------------------------------------------------------------------------- */
/* bumped by cancelAccepts(): an accept started under an older generation ends */
static atomic_int generation = 0;
/* how long a waiting accept sleeps before it looks at the generation again (prepare) */
static atomic_int wait_ms = 100;

static int int_args(napi_env env, napi_callback_info info, size_t want, int32_t *out) {
  napi_value argv[2];
  size_t argc = 2;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != 0 || argc < want) {
    napi_throw_error(env, "ERR_INVALID_ARG_TYPE", "kernel-accept: missing argument");
    return -1;
  }
  for (size_t i = 0; i < want; i++) {
    if (napi_get_value_int32(env, argv[i], &out[i]) != 0) {
      napi_throw_error(env, "ERR_INVALID_ARG_TYPE", "kernel-accept: expected an integer");
      return -1;
    }
  }
  return 0;
}

static napi_value int_value(napi_env env, int32_t n) {
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

/* ---- exports ---------------------------------------------------------------------------------- */
static napi_value prepare(napi_env env, napi_callback_info info) {
  int32_t a[2];
  if (int_args(env, info, 2, a) != 0) return NULL;
  int flags = fcntl(a[0], F_GETFL);
  if (flags == -1 || fcntl(a[0], F_SETFL, flags | O_NONBLOCK) == -1) return int_value(env, -errno);
  atomic_store(&wait_ms, a[1] > 0 ? a[1] : 100);
  return int_value(env, 0);
}

/* one accept4(), never blocking; a client that left before it was taken (ECONNABORTED) is skipped */
static int accept_now_fd(int fd) {
  for (;;) {
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c >= 0) return c;
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    return -errno;
  }
}

static napi_value accept_now(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (int_args(env, info, 1, &fd) != 0) return NULL;
  return int_value(env, accept_now_fd(fd));
}

static napi_value dup_fd(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (int_args(env, info, 1, &fd) != 0) return NULL;
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return int_value(env, copy == -1 ? -errno : copy);
}

static napi_value close_fd(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (int_args(env, info, 1, &fd) != 0) return NULL;
  return int_value(env, close(fd) == -1 ? -errno : 0);
}

static napi_value queued(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (int_args(env, info, 1, &fd) != 0) return NULL;
  /* for a listening TCP socket, tcpi_unacked is the accept queue's length (sk_ack_backlog) */
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1 || ti.tcpi_state != 10 /* TCP_LISTEN */) return int_value(env, -1);
  return int_value(env, (int32_t)ti.tcpi_unacked);
}

static napi_value peer_closed(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (int_args(env, info, 1, &fd) != 0) return NULL;
  char c;
  return int_value(env, recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0 ? 1 : 0);
}

static napi_value cancel_accepts(napi_env env, napi_callback_info info) {
  (void)info;
  atomic_fetch_add(&generation, 1);
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

struct job {
  int fd;
  int once;
  int generation;
  int result;
  napi_deferred deferred;
  napi_async_work work;
};

/* An epoll instance holding fd, EPOLLEXCLUSIVE where the kernel has it (before 4.5 every waiting child wakes). */
static int new_wait_set(int fd) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep == -1) return -errno;
  struct epoll_event want = { .events = EPOLLIN | EPOLLEXCLUSIVE };
  int added = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &want);
  if (added == -1 && errno == EINVAL) {
    want.events = EPOLLIN;
    added = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &want);
  }
  if (added == -1) {
    int e = errno;
    close(ep);
    return -e;
  }
  return ep;
}

/*
 * The epoll instance this process waits in, made for the first listening socket it accepts from and
 * kept. The socket's wait queue holds the EPOLLEXCLUSIVE entries in the order they were added, and a
 * connection wakes the first one whose child is waiting. An instance made for each wait went to the
 * back of that queue every time, so each connection woke the child that had been idle longest: the
 * coldest (its JIT, its caches), and a new wave of connections after a steady load went to children
 * that had served none of it. A kept entry holds its place: a connection goes to the earliest-started
 * child that is waiting, so the same children, warm, take the connections while they keep up.
 * Another socket (a test's second server) gets an instance per wait, as before; the kept one is
 * matched by descriptor and inode, so a socket closed and another opened on its number is not it.
 */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static int kept_ep = -1;
static int kept_fd = -1;
static ino_t kept_ino = 0;

/* The instance to wait in for fd: the kept one (*kept = 1, never closed) or a new one (-errno on failure). */
static int wait_set(int fd, int *kept) {
  struct stat st;
  *kept = 0;
  if (fstat(fd, &st) == -1) return -errno;
  pthread_mutex_lock(&kept_lock);
  int ep;
  if (kept_ep != -1) {
    ep = kept_fd == fd && kept_ino == st.st_ino ? kept_ep : -1;
  } else {
    ep = new_wait_set(fd);
    if (ep >= 0) { kept_ep = ep; kept_fd = fd; kept_ino = st.st_ino; }
  }
  pthread_mutex_unlock(&kept_lock);
  if (ep >= 0) { *kept = 1; return ep; }
  return new_wait_set(fd);
}

/*
 * On a threadpool thread: wait until a connection is there and take it, in the epoll instance of
 * wait_set(): a connection wakes one waiting child (another child may still take it first: then this
 * one waits again).
 */
static void accept_execute(napi_env env, void *data) {
  (void)env;
  struct job *j = data;
  int kept;
  int ep = wait_set(j->fd, &kept);
  if (ep < 0) {
    j->result = ep;
    return;
  }
  for (;;) {
    if (atomic_load(&generation) != j->generation) { j->result = -ECANCELED; break; }
    /* cancelled while it waited, a connection it took is still this process's to serve (it cannot be put back) */
    int fd = accept_now_fd(j->fd);
    if (fd != -EAGAIN) { j->result = fd; break; } /* a connection, or EMFILE, ENFILE…: the caller decides */
    struct epoll_event got;
    int n = epoll_wait(ep, &got, 1, atomic_load(&wait_ms));
    if (n == 0 && j->once) { j->result = -EAGAIN; break; }
    if (n == -1 && errno != EINTR) { j->result = -errno; break; }
  }
  if (!kept) close(ep);
}

static void accept_complete(napi_env env, napi_status status, void *data) {
  struct job *j = data;
  napi_resolve_deferred(env, j->deferred, int_value(env, status == 0 ? j->result : -ECANCELED));
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value accept_one(napi_env env, napi_callback_info info) {
  int32_t a[2] = { 0, 0 };
  napi_value argv[2];
  size_t argc = 2;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (int_args(env, info, argc >= 2 ? 2 : 1, a) != 0) return NULL;
  int32_t fd = a[0];
  struct job *j = calloc(1, sizeof *j);
  if (j == NULL) { napi_throw_error(env, "ENOMEM", "kernel-accept: out of memory"); return NULL; }
  j->fd = fd;
  j->once = a[1] != 0;
  j->generation = atomic_load(&generation);
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "echoplex:kernel-accept", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, accept_execute, accept_complete, j, &j->work) != 0 ||
      napi_queue_async_work(env, j->work) != 0) {
    free(j);
    napi_throw_error(env, "ERR_KERNEL_ACCEPT", "kernel-accept: could not queue the accept");
    return NULL;
  }
  return promise;
}

static napi_value board_create(napi_env env, napi_callback_info info) {
  int32_t bytes;
  if (int_args(env, info, 1, &bytes) != 0) return NULL;
  int fd = memfd_create("echoplex-scoreboard", MFD_CLOEXEC);
  if (fd == -1) return int_value(env, -errno);
  if (ftruncate(fd, bytes) == -1) {
    int e = errno;
    close(fd);
    return int_value(env, -e);
  }
  return int_value(env, fd);
}

static void board_unmap(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)hint);
}

static napi_value board_map(napi_env env, napi_callback_info info) {
  int32_t a[2];
  if (int_args(env, info, 2, a) != 0) return NULL;
  void *p = mmap(NULL, (size_t)a[1], PROT_READ | PROT_WRITE, MAP_SHARED, a[0], 0);
  if (p == MAP_FAILED) {
    napi_throw_error(env, "ERR_KERNEL_ACCEPT", "kernel-accept: cannot map the scoreboard");
    return NULL;
  }
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, p, (size_t)a[1], board_unmap, (void *)(size_t)a[1], &buffer) != 0) {
    munmap(p, (size_t)a[1]);
    napi_throw_error(env, "ERR_KERNEL_ACCEPT", "kernel-accept: external buffers are not allowed here");
    return NULL;
  }
  return buffer;
}

static napi_value parent_death(napi_env env, napi_callback_info info) {
  int32_t sig;
  if (int_args(env, info, 1, &sig) != 0) return NULL;
  if (prctl(PR_SET_PDEATHSIG, (unsigned long)sig) == -1) return int_value(env, -errno);
  return int_value(env, (int32_t)getppid());
}

/* Every mapping inheritable again (MADV_DOFORK); errors are mappings that cannot be (vsyscall): skipped. */
static void inherit_all_mappings(void) {
  FILE *maps = fopen("/proc/self/maps", "re");
  if (maps == NULL) return;
  char line[512];
  unsigned long from, to;
  while (fgets(line, sizeof line, maps) != NULL) {
    if (sscanf(line, "%lx-%lx", &from, &to) == 2) madvise((void *)from, to - from, MADV_DOFORK);
  }
  fclose(maps);
}

static napi_value warm_fork(napi_env env, napi_callback_info info) {
  (void)info;
  void *loop;
  if (napi_get_uv_event_loop(env, &loop) != 0) {
    napi_throw_error(env, "ERR_KERNEL_ACCEPT", "kernel-accept: no event loop");
    return NULL;
  }
  inherit_all_mappings();
  pid_t pid = fork();
  if (pid == -1) return int_value(env, -errno);
  if (pid == 0 && uv_loop_fork(loop) != 0) _exit(70);
  return int_value(env, (int32_t)pid);
}

static napi_value exit_now(napi_env env, napi_callback_info info) {
  int32_t code;
  if (int_args(env, info, 1, &code) != 0) return NULL;
  _exit(code);
}

static napi_value ended(napi_env env, pid_t pid, int status) {
  napi_value out;
  napi_create_array_with_length(env, 3, &out);
  napi_set_element(env, out, 0, int_value(env, (int32_t)pid));
  napi_set_element(env, out, 1, int_value(env, WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  napi_set_element(env, out, 2, int_value(env, WIFSIGNALED(status) ? WTERMSIG(status) : -1));
  return out;
}

static napi_value reap(napi_env env, napi_callback_info info) {
  (void)info;
  int status;
  pid_t pid = waitpid(-1, &status, WNOHANG);
  if (pid <= 0) return NULL;
  return ended(env, pid, status);
}

/* Reaps every child that ended, but not `keep` (a child libuv will reap): peeked first (WNOWAIT). */
static napi_value reap_orphans(napi_env env, napi_callback_info info) {
  int32_t keep;
  if (int_args(env, info, 1, &keep) != 0) return NULL;
  int32_t reaped = 0;
  for (;;) {
    siginfo_t si;
    si.si_pid = 0;
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0 || si.si_pid == keep) break;
    int status;
    if (waitpid(si.si_pid, &status, WNOHANG) <= 0) break;
    reaped++;
  }
  return int_value(env, reaped);
}

static napi_value socket_pair(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == -1) return int_value(env, -errno);
  napi_value out;
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, int_value(env, fds[0]));
  napi_set_element(env, out, 1, int_value(env, fds[1]));
  return out;
}

static napi_value subreaper(napi_env env, napi_callback_info info) {
  (void)info;
  return int_value(env, prctl(PR_SET_CHILD_SUBREAPER, 1UL) == -1 ? -errno : 0);
}

napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  static const struct { const char *name; napi_callback fn; } fns[] = {
    { "prepare", prepare }, { "dup", dup_fd }, { "close", close_fd }, { "queued", queued },
    { "acceptOne", accept_one }, { "cancelAccepts", cancel_accepts }, { "acceptNow", accept_now },
    { "peerClosed", peer_closed }, { "boardCreate", board_create }, { "boardMap", board_map },
    { "parentDeath", parent_death }, { "warmFork", warm_fork }, { "exitNow", exit_now }, { "reap", reap },
    { "reapOrphans", reap_orphans }, { "socketPair", socket_pair }, { "subreaper", subreaper },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
