#!/usr/bin/env bash
# The Secret `dnn-tls` that deploy/k8s's pods mount for mutual TLS: a self-signed certificate and key
# (`dnn cert`, built here if needed; OpenSSL with --openssl or without the .NET SDK) made in a private
# temporary folder, removed on exit, as the Secret's tls.crt and tls.key. Every pod given both trusts
# every other such pod, and nothing else.
#
#   deploy/k8s/make-tls-secret.sh [--apply] [-n NAMESPACE] [--days N] [--force] [--openssl]
#
# Without --apply the Secret's YAML goes to stdout (it holds the private key: redirect it, e.g.
# `> dnn-tls.yaml`, or pipe it to `kubectl apply -n NAMESPACE -f -`). With --apply, kubectl creates it in
# NAMESPACE (default: the context's); an existing dnn-tls is kept unless --force replaces it (then restart
# the pods: kubectl rollout restart statefulset/dnn-coordinator deployment/dnn-worker). Whoever can read
# the Secret can join the cluster: keep it to the namespace (RBAC).
# A real CA instead: deploy/k8s/cert-manager/ (cert-manager fills the same Secret).
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

name="dnn-tls"
apply=0 force=0 use_openssl=0 days=365 namespace=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --apply) apply=1 ;;
    --force) force=1 ;;
    --openssl) use_openssl=1 ;;
    -n | --namespace | --days)
      if [[ $# -lt 2 ]]; then
        echo "error: $1 needs a value" >&2
        exit 2
      fi
      if [[ $1 == --days ]]; then days=$2; else namespace=$2; fi
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "error: unknown argument '$1' (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done
if ! [[ $days =~ ^[0-9]+$ ]] || ((days < 1)); then
  echo "error: --days must be a whole number of at least 1 (got '$days')" >&2
  exit 2
fi
ns_args=()
if [[ -n $namespace ]]; then ns_args=(-n "$namespace"); fi
if ((apply)); then
  if ! command -v kubectl >/dev/null 2>&1; then
    echo "error: --apply needs kubectl; without --apply the Secret's YAML goes to stdout" >&2
    exit 1
  fi
  if kubectl get secret "$name" "${ns_args[@]}" >/dev/null 2>&1 && ((!force)); then
    echo "error: the Secret $name exists already${namespace:+ in $namespace}: kept (--force replaces it, after which the pods must be restarted)" >&2
    exit 1
  fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dnn-tls-secret.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if ((!use_openssl)) && ! command -v dotnet >/dev/null 2>&1; then
  echo "no .NET SDK here: making the certificate with OpenSSL" >&2
  use_openssl=1
fi
if ((use_openssl)); then
  # the same kind of certificate as `dnn cert`: ECDSA P-256, self-signed, CN=dnn-cluster (OpenSSL 3 marks it CA:TRUE)
  (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" -subj /CN=dnn-cluster \
    -keyout "$tmp/cluster.key" -out "$tmp/cluster.crt" 2>/dev/null)
else
  dnn=src/Coordinator/bin/Release/net10.0/dnn.dll
  if [[ ! -f $dnn ]]; then
    echo "Building dnn ..." >&2
    dotnet build src/Coordinator -c Release -nologo -v quiet >&2
  fi
  dotnet "$dnn" cert --out "$tmp" --days "$days" >&2
fi

secret_yaml() {
  if command -v kubectl >/dev/null 2>&1; then
    kubectl create secret generic "$name" "${ns_args[@]}" --from-file=tls.crt="$tmp/cluster.crt" \
      --from-file=tls.key="$tmp/cluster.key" --dry-run=client -o yaml
  else
    # what kubectl would write
    printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n' "$name"
    if [[ -n $namespace ]]; then printf '  namespace: %s\n' "$namespace"; fi
    printf 'type: Opaque\ndata:\n  tls.crt: %s\n  tls.key: %s\n' "$(base64 -w0 "$tmp/cluster.crt")" "$(base64 -w0 "$tmp/cluster.key")"
  fi
}

if ((apply)); then
  secret_yaml | kubectl apply "${ns_args[@]}" -f -
else
  secret_yaml
fi
