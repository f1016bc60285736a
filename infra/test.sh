#!/usr/bin/env bash
# infra/test.sh: the offline tests of infra/ (CI runs `bash infra/test.sh`).
#
# Installs what it needs on a fresh Debian machine (as root), runs shellcheck
# on every script under infra/, starts moto server (the AWS emulator) and
# Debian's docker-registry (standing in for ECR) on loopback, runs pytest, and
# stops both on the way out. No AWS account and no network beyond loopback.

set -euo pipefail
shopt -s inherit_errexit

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${INFRA_TEST_VENV:-${INFRA_DIR}/.venv}"
# awscli >= 1.46.3 knows put-integration --response-transfer-mode and
# --integration-target; moto 5.2 has the APIs up.sh calls.
PYTHON_REQUIREMENTS=("awscli==1.46.3" "moto[server]==5.2.5" "pytest==9.2.0" "pytest-xdist==3.8.0")
# The stack tests spend their time in AWS CLI processes: one worker per core,
# each with its own moto server.
WORKERS="${INFRA_TEST_WORKERS:-$(nproc)}"
DEBIAN_PACKAGES=(shellcheck docker-registry skopeo jq curl gzip)

WORK_DIR="$(mktemp -d)"
MOTO_PIDS=()
MOTO_URLS=()
REGISTRY_PID=""

log() { printf '[infra/test.sh] %s\n' "$*" >&2; }

cleanup() {
    local pid
    for pid in "${MOTO_PIDS[@]}" "${REGISTRY_PID}"; do
        [[ -n "${pid}" ]] || continue
        kill "${pid}" 2>/dev/null || true
        wait "${pid}" 2>/dev/null || true
    done
    rm -rf "${WORK_DIR}"
}
trap cleanup EXIT

install_debian_packages() {
    local missing=() package
    for package in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("${package}")
    done
    ((${#missing[@]} > 0)) || return 0
    if ((EUID != 0)); then
        log "missing Debian packages: ${missing[*]} (run as root, or install them first)"
        exit 1
    fi
    log "installing ${missing[*]}"
    apt-get update -qq
    # The tests run their own registry on a free loopback port, not the packaged service.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_tools() {
    local stamp="${VENV}/.requirements"
    if [[ -x "${VENV}/bin/python" && "$(cat "${stamp}" 2>/dev/null)" == "${PYTHON_REQUIREMENTS[*]}" ]]; then
        return 0
    fi
    log "creating ${VENV} with ${PYTHON_REQUIREMENTS[*]}"
    python3 -m venv "${VENV}"
    "${VENV}/bin/python" -m pip install --quiet --disable-pip-version-check "${PYTHON_REQUIREMENTS[@]}"
    printf '%s' "${PYTHON_REQUIREMENTS[*]}" >"${stamp}"
}

run_shellcheck() {
    local scripts=()
    mapfile -t scripts < <(find "${INFRA_DIR}" -name '*.sh' -not -path '*/.venv/*' | sort)
    log "shellcheck on ${#scripts[@]} scripts"
    (cd "${INFRA_DIR}" && shellcheck -x "${scripts[@]}")
}

free_port() {
    "${VENV}/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_http() {
    # wait_for_http URL PID NAME: up to 30 s for URL to answer, while PID lives.
    local url="$1" pid="$2" name="$3" tries=0
    until curl -fsS -o /dev/null "${url}" 2>/dev/null; do
        kill -0 "${pid}" 2>/dev/null || { log "${name} exited; its log:"; cat "${WORK_DIR}/${name}.log" >&2; exit 1; }
        tries=$((tries + 1))
        ((tries < 150)) || { log "${name} did not answer at ${url}"; cat "${WORK_DIR}/${name}.log" >&2; exit 1; }
        sleep 0.2
    done
}

start_moto() {
    # start_moto INDEX
    local port url
    port="$(free_port)"
    # Each server records requests to its own file (moto's default is one
    # file in the working directory, which the servers would share).
    MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_RECORDER_FILEPATH="${WORK_DIR}/moto-$1.recording" \
        "${VENV}/bin/moto_server" -H 127.0.0.1 -p "${port}" \
        >"${WORK_DIR}/moto-$1.log" 2>&1 &
    MOTO_PIDS+=($!)
    url="http://127.0.0.1:${port}"
    wait_for_http "${url}/moto-api/" "$!" "moto-$1"
    MOTO_URLS+=("${url}")
    log "moto server $1 on ${url}"
}

start_registry() {
    local port
    port="$(free_port)"
    mkdir -p "${WORK_DIR}/registry"
    cat >"${WORK_DIR}/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${WORK_DIR}/registry
http:
  addr: 127.0.0.1:${port}
EOF
    docker-registry serve "${WORK_DIR}/registry.yml" >"${WORK_DIR}/registry.log" 2>&1 &
    REGISTRY_PID=$!
    REGISTRY="127.0.0.1:${port}"
    wait_for_http "http://${REGISTRY}/v2/" "${REGISTRY_PID}" registry
    log "registry on ${REGISTRY}"
}

main() {
    local started="${SECONDS}"
    install_debian_packages
    install_python_tools
    run_shellcheck
    local index
    for ((index = 0; index < WORKERS; index++)); do
        start_moto "${index}"
    done
    start_registry

    # The AWS CLI under test talks to moto only: fake credentials, no config
    # files, no instance metadata, one attempt per call.
    local status=0
    env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_DEFAULT_PROFILE \
        PATH="${VENV}/bin:${PATH}" \
        MOTO_URLS="${MOTO_URLS[*]}" REGISTRY="${REGISTRY}" \
        AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
        AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_MAX_ATTEMPTS=1 \
        AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
        INFRA_DIR="${INFRA_DIR}" WORK_DIR="${WORK_DIR}" \
        "${VENV}/bin/python" -m pytest "${INFRA_DIR}/tests" -ra -p no:cacheprovider \
        -n "${WORKERS}" --dist worksteal --durations=5 || status=$?
    log "finished in $((SECONDS - started))s (exit ${status})"
    return "${status}"
}

main "$@"
