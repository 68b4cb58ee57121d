#!/usr/bin/env bash
# docker/test.sh — run the Docker setup for real: build the image, bring up docker/compose.yaml
# (HAProxy + replicas of every model), load it through the balancer with `echoplex bench --target`,
# kill one replica under load, check the others keep serving, and tear everything down.
#
#   sudo docker/test.sh                    # make a local base image (no registry needed)
#   sudo docker/test.sh --base node:24-bookworm-slim --balancer haproxy:2.9   # registry images
#
# It starts its own dockerd (own --data-root, --exec-root and socket, no iptables changes, no
# docker0), and removes the containers, network, daemon and its files on exit, failure or Ctrl+C.
# The local base is Debian bookworm (debootstrap --variant=minbase) with Node 24 and npm from the
# npm registry; it is cached in $ECHOPLEX_CACHE (default ~/.cache/echoplex) for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
say () { printf 'docker/test.sh: %s\n' "$*"; }
die () { say "$*" >&2; exit 1; }

BASE='' BALANCER='' NODE_MAJOR=24
while [ $# -gt 0 ]; do
  case "$1" in
    --base) BASE=${2:?--base needs an image}; shift 2 ;;
    --balancer) BALANCER=${2:?--balancer needs an image}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "needs root (it runs its own dockerd)"
for tool in dockerd docker docker-compose node; do command -v "$tool" >/dev/null || die "needs $tool (apt-get install docker.io docker-compose)"; done
[ -n "$BASE" ] || command -v debootstrap >/dev/null || die "needs debootstrap to make a base image, or --base IMAGE"
[ -f packages/cli/dist/bin.js ] || die "echoplex is not built: run pnpm run build"

WORK=$(mktemp -d /tmp/echoplex-docker.XXXXXX)
ID=epx$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export DOCKER_HOST=unix://$WORK/docker.sock
# the classic builder: buildx is not part of Debian's docker.io
export DOCKER_BUILDKIT=0
COMPOSE=(docker-compose -p "$ID" -f docker/compose.yaml)
DOCKERD_PID=''

cleanup () {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$DOCKERD_PID" ]; then
    if [ "$status" -ne 0 ] && [ -n "${COMPOSE_UP:-}" ]; then
      say "what the containers said:"
      "${COMPOSE[@]}" ps 2>&1 | sed 's/^/  /' || true
      "${COMPOSE[@]}" logs --no-color --tail=5 2>&1 | sed 's/^/  /' || true
    fi
    "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$DOCKERD_PID" 2>/dev/null || true
  fi
  if [ -n "${FORWARD_ADDED:-}" ]; then iptables -D "${FORWARD_RULE[@]}" 2>/dev/null || true; fi
  # the daemon's mounts must be gone before its files can be removed
  grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$WORK"
  say "cleaned up (containers, network, dockerd, its files in $WORK${FORWARD_ADDED:+, the FORWARD rule for $SUBNET})"
  exit "$status"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# with --iptables=false dockerd adds no rules; where bridged traffic goes through a FORWARD chain
# that drops (br_netfilter on a machine that ran Docker before), let the compose network's own
# subnet talk to itself, for this run only
SUBNET=$(grep -o 'subnet: [0-9./]*' docker/compose.yaml | cut -d' ' -f2)
FORWARD_RULE=(FORWARD -s "$SUBNET" -d "$SUBNET" -m comment --comment "echoplex docker/test.sh $ID" -j ACCEPT)
if command -v iptables >/dev/null && iptables -I "${FORWARD_RULE[@]}" 2>/dev/null; then FORWARD_ADDED=1; fi

say "starting dockerd ($DOCKER_HOST)"
dockerd --data-root "$WORK/data" --exec-root "$WORK/exec" -H "$DOCKER_HOST" --pidfile "$WORK/docker.pid" \
  --bridge=none --iptables=false --ip-masq=false --ip-forward=false >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; kill -0 "$DOCKERD_PID" 2>/dev/null || die "dockerd failed: $(tail -1 "$WORK/dockerd.log")"; sleep 0.2; done
docker info >/dev/null 2>&1 || die "dockerd did not answer"

if [ -z "$BASE" ]; then
  CACHE=${ECHOPLEX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/echoplex}
  TARBALL=$CACHE/base-bookworm-node$NODE_MAJOR.tar
  if [ ! -f "$TARBALL" ]; then
    say "making a base image: debootstrap bookworm + node@$NODE_MAJOR and npm from the npm registry (a few minutes, once)"
    mkdir -p "$CACHE"
    ROOTFS=$WORK/rootfs
    debootstrap --variant=minbase --include=tini,ca-certificates bookworm "$ROOTFS" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
      || die "debootstrap failed: $(tail -1 "$WORK/debootstrap.log")"
    (cd "$WORK" && npm install --silent --no-audit --no-fund --prefix "$WORK/npm" "node@$NODE_MAJOR" npm@11 >/dev/null)
    install -m 0755 "$WORK/npm/node_modules/node/bin/node" "$ROOTFS/usr/local/bin/node"
    mkdir -p "$ROOTFS/usr/local/lib/node_modules"
    cp -a "$WORK/npm/node_modules/npm" "$ROOTFS/usr/local/lib/node_modules/npm"
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    tar -C "$ROOTFS" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$ROOTFS"
  fi
  BASE=echoplex-base:bookworm-node$NODE_MAJOR
  docker import "$TARBALL" "$BASE" >/dev/null
  # trust what this machine trusts: local CA certificates (a TLS-inspecting egress proxy's, say) are
  # added to the base, so builds on it reach the npm registry as the host does
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$WORK/ca" && cp /usr/local/share/ca-certificates/*.crt "$WORK/ca/"
    printf 'FROM %s\nCOPY *.crt /usr/local/share/ca-certificates/\nRUN update-ca-certificates >/dev/null\nENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt\n' "$BASE" >"$WORK/ca/Dockerfile"
    docker build -q -t "$BASE" "$WORK/ca" >/dev/null
  fi
  say "base image $BASE (imported from $TARBALL): node $(docker run --rm "$BASE" node --version 2>/dev/null)"
fi
if [ -z "$BALANCER" ]; then
  BALANCER=echoplex-haproxy:local
  printf 'FROM %s\nRUN apt-get update && apt-get install -y --no-install-recommends haproxy && rm -rf /var/lib/apt/lists/*\n' "$BASE" \
    | docker build --network host -q -t "$BALANCER" - >/dev/null 2>"$WORK/balancer.log" || die "balancer image build failed: $(tail -1 "$WORK/balancer.log")"
  say "balancer image $BALANCER: Debian's HAProxy on $BASE"
fi

say "building the echoplex image (BASE=$BASE)"
t0=$(date +%s)
docker build --network host --build-arg "BASE=$BASE" -f docker/Dockerfile -t echoplex:test . >"$WORK/build.log" 2>&1 \
  || die "image build failed: $(tail -3 "$WORK/build.log" | tr '\n' ' ')"
SIZE=$(docker image inspect -f '{{.Size}}' echoplex:test)
say "image echoplex:test: $((SIZE / 1024 / 1024)) MiB, built in $(( $(date +%s) - t0 )) s; runs as $(docker run --rm --entrypoint id echoplex:test -un 2>/dev/null)"

free_port () { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
export ECHOPLEX_IMAGE=echoplex:test BALANCER_IMAGE=$BALANCER ECHO_PORT=$(free_port) HTTP_PORT=$(free_port)
"${COMPOSE[@]}" up -d --no-build >"$WORK/compose.log" 2>&1 || die "compose up failed: $(tail -2 "$WORK/compose.log" | tr '\n' ' ')"
COMPOSE_UP=1
REPLICAS=$(grep -c 'image: ${ECHOPLEX_IMAGE' docker/compose.yaml)
say "compose project $ID up; waiting for its $REPLICAS replicas to be healthy"
healthy=0
for _ in $(seq 120); do
  healthy=$(docker ps --filter "label=com.docker.compose.project=$ID" --filter health=healthy -q | wc -l)
  [ "$healthy" -ge "$REPLICAS" ] && break
  sleep 0.5
done
[ "$healthy" -ge "$REPLICAS" ] || die "only $healthy of $REPLICAS replicas became healthy"
say "$healthy replicas healthy"

ECHOPLEX=(node packages/cli/bin/echoplex.js)
bench () { "${ECHOPLEX[@]}" bench --quiet --out "$WORK/results" --warmup 500ms "$@" >/dev/null 2>"$WORK/bench.err"; }
# one line per scenario of the newest results file: id, status, req/s, errors, reason
rps () {
  node -e "const d='$WORK/results', f=require('fs').readdirSync(d).sort().pop(), r=require(d+'/'+f)
    for (const s of r.scenarios) console.log(s.id, s.status, Math.round(s.summary?.requestsPerSec?.median ?? 0), 'req/s,', s.repetitions[0]?.load?.errors?.total ?? '-', 'errors', s.reason ?? '')"
}
mkdir -p "$WORK/results"

say "load through the balancer: echoplex bench --target 127.0.0.1:$ECHO_PORT (raw echo) and 127.0.0.1:$HTTP_PORT (http)"
bench --target "127.0.0.1:$ECHO_PORT" -w echo -d 3s -c 32 --modes keep-alive,churn || die "echo through the balancer failed: $(rps)"
rps | sed 's/^/  /'
bench --target "127.0.0.1:$HTTP_PORT" -w http -d 3s -c 32 --modes keep-alive || die "http through the balancer failed: $(rps)"
rps | sed 's/^/  /'

say "killing replica echo-cluster (SIGKILL) under load"
bench --target "127.0.0.1:$ECHO_PORT" -w echo -d 4s -c 32 --modes keep-alive & LOAD=$!
sleep 2
"${COMPOSE[@]}" kill -s SIGKILL echo-cluster >/dev/null 2>&1
wait $LOAD || true
say "  during the kill: $(rps)"
bench --target "127.0.0.1:$ECHO_PORT" -w echo -d 3s -c 32 --modes keep-alive,churn || die "the other replicas did not keep serving: $(rps)"
say "  after the kill, the 3 other replicas serve alone:"
rps | sed 's/^/    /'
say "PASS"
