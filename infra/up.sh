#!/usr/bin/env bash
# up.sh: from a built image to a public HTTPS streaming endpoint on AWS.
#
# API Gateway (REGIONAL REST API, response streaming) -> VPC link v2 ->
# internal ALB -> Fargate tasks in private subnets with no internet route,
# reaching ECR, CloudWatch Logs and Bedrock through VPC endpoints only.
#
# Every resource is found by tag or name before anything is created, so a
# second run changes only what differs and an interrupted run is completed by
# the next one. Run with --help for the flags.
#
# This file holds the settings, the order of the steps and the smoke test; the
# steps themselves are in lib/network.sh, lib/iam.sh, lib/compute.sh and
# lib/api.sh, the shared plumbing in lib/common.sh and lib/image.sh.

# shellcheck source-path=SCRIPTDIR disable=SC2016 # backticks in --query are JMESPath literals
set -euo pipefail
INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/common.sh
source "${INFRA_DIR}/lib/common.sh"
# shellcheck source=lib/image.sh
source "${INFRA_DIR}/lib/image.sh"
# shellcheck source=lib/network.sh
source "${INFRA_DIR}/lib/network.sh"
# shellcheck source=lib/iam.sh
source "${INFRA_DIR}/lib/iam.sh"
# shellcheck source=lib/compute.sh
source "${INFRA_DIR}/lib/compute.sh"
# shellcheck source=lib/api.sh
source "${INFRA_DIR}/lib/api.sh"

# ----------------------------------------------------------------------------
# Configuration: flags override environment, environment overrides defaults.

MODEL_ID="${MODEL_ID:-global.anthropic.claude-haiku-4-5-20251001-v1:0}"
ALLOWED_MODELS="${ALLOWED_MODELS:-}"
IMAGE="${IMAGE:-./result}"
IMAGE_URI="${IMAGE_URI:-}"
IMAGE_ARCH="${IMAGE_ARCH:-}"
TASK_CPU="${TASK_CPU:-512}"
TASK_MEMORY="${TASK_MEMORY:-1024}"
MIN_TASKS="${MIN_TASKS:-2}"
MAX_TASKS="${MAX_TASKS:-6}"
DESIRED_COUNT="${DESIRED_COUNT:-}"
SCALE_CPU_TARGET="${SCALE_CPU_TARGET:-60}"
HEARTBEAT_SECS="${HEARTBEAT_SECS:-15}"
DRAIN_SECS="${DRAIN_SECS:-25}"
MAX_STREAM_SECS="${MAX_STREAM_SECS:-870}"
UPSTREAM_IDLE_TIMEOUT_SECS="${UPSTREAM_IDLE_TIMEOUT_SECS:-60}"
MAX_CONCURRENT_STREAMS="${MAX_CONCURRENT_STREAMS:-1024}"
MAX_OUTPUT_TOKENS="${MAX_OUTPUT_TOKENS:-}"
MAX_BODY_BYTES="${MAX_BODY_BYTES:-}"
RUST_LOG="${RUST_LOG:-info}"
ALB_IDLE_TIMEOUT="${ALB_IDLE_TIMEOUT:-120}"
THROTTLE_RATE="${THROTTLE_RATE:-10}"
THROTTLE_BURST="${THROTTLE_BURST:-20}"
QUOTA_PER_DAY="${QUOTA_PER_DAY:-10000}"
LOG_RETENTION_DAYS="${LOG_RETENTION_DAYS:-30}"
STAGE_NAME="${STAGE_NAME:-prod}"
VPC_CIDR="${VPC_CIDR:-10.42.0.0/16}"
AZ_IDS="${AZ_IDS:-}"
PUBLIC="${PUBLIC:-0}"
NO_WAIT="${NO_WAIT:-0}"
VPC_LINK_TIMEOUT_SECS="${VPC_LINK_TIMEOUT_SECS:-900}"
# Tests only: push the image to this loopback registry (host:port, plain HTTP)
# standing in for ECR. Never set in real use.
IMAGE_PUSH_REGISTRY="${IMAGE_PUSH_REGISTRY:-}"

readonly CONTAINER_PORT=8080
readonly LISTENER_PORT=80
readonly CONTAINER_USER="65532:65532"
# API Gateway's limit for a streamed integration: 15 minutes.
readonly INTEGRATION_TIMEOUT_MS=900000
# Availability Zones (by AZ ID) where VPC link v2 cannot place its interfaces,
# from API Gateway's "VPC links V2" availability table. --az-ids overrides.
readonly VPC_LINK_UNSUPPORTED_AZ_IDS="use1-az3 usw1-az2 ape1-az1"

usage() {
    cat <<EOF
Usage: infra/up.sh [options]

Creates (or updates) the whole private streaming stack in one region and
prints the endpoint, the API key and ready curl commands.

General
  --region REGION          AWS region (AWS_REGION, AWS_DEFAULT_REGION; default us-east-1)
  --stack NAME             stack name, prefix of every resource (STACK_NAME; default bedrock-sse)
  --dry-run                print the plan; change nothing (DRY_RUN=1)
  --no-wait                skip waiting for steady state and the smoke test (NO_WAIT=1)
  -h, --help               this text

Image (one of)
  --image PATH             docker-archive from 'nix build .#image' (IMAGE; default ./result),
                           pushed to ECR tagged by content
  --image-uri URI          an image already pushed (IMAGE_URI)
  --arch amd64|arm64       CPU architecture of --image-uri (IMAGE_ARCH; read from the
                           archive for --image, from the registry when skopeo is present)

Model and server limits (passed to the container)
  --model-id ID            Bedrock model or inference profile (MODEL_ID;
                           default global.anthropic.claude-haiku-4-5-20251001-v1:0)
  --allowed-models LIST    comma-separated extra models clients may pick (ALLOWED_MODELS)
  --max-output-tokens N    cap on max_tokens (MAX_OUTPUT_TOKENS)
  --heartbeat-secs N       SSE heartbeat interval (HEARTBEAT_SECS; default 15)
  --drain-secs N           drain deadline on shutdown (DRAIN_SECS; default 25)
  --max-stream-secs N      longest stream, under API Gateway's 900 s (MAX_STREAM_SECS; default 870)
  --upstream-idle-timeout-secs N  (UPSTREAM_IDLE_TIMEOUT_SECS; default 60)
  --max-concurrent-streams N      per task (MAX_CONCURRENT_STREAMS; default 1024)
  --max-body-bytes N       request body limit (MAX_BODY_BYTES; server default when unset)
  --rust-log FILTER        log filter (RUST_LOG; default info)

Capacity
  --cpu UNITS              task CPU units (TASK_CPU; default 512)
  --memory MIB             task memory (TASK_MEMORY; default 1024)
  --min-tasks N            scaling minimum (MIN_TASKS; default 2, one per AZ)
  --max-tasks N            scaling maximum (MAX_TASKS; default 6)
  --desired-count N        tasks when the service is created (DESIRED_COUNT; default --min-tasks)
  --cpu-target PERCENT     target tracking on average CPU (SCALE_CPU_TARGET; default 60)
  --alb-idle-timeout SECS  ALB idle timeout, above the heartbeat (ALB_IDLE_TIMEOUT; default 120)

Access (by default /stream and /v1/chat/completions need the API key, sent as the
x-api-key header; / and /health, which cost nothing, do not)
  --public                 no API key (PUBLIC=1). Anyone who finds the URL can spend
                           this account's Bedrock budget: throttling still applies.
  --rate-limit RPS         steady requests per second (THROTTLE_RATE; default 10)
  --burst-limit N          burst (THROTTLE_BURST; default 20)
  --quota-per-day N        requests per API key per day (QUOTA_PER_DAY; default 10000)
  --stage NAME             API Gateway stage (STAGE_NAME; default prod)

Network and logs
  --vpc-cidr CIDR          a /16 for the new VPC (VPC_CIDR; default 10.42.0.0/16)
  --az-ids ID,ID           two Availability Zone IDs (AZ_IDS; default: chosen for you)
  --log-retention-days N   CloudWatch Logs retention (LOG_RETENTION_DAYS; default 30)

Needs: AWS CLI v2 (or v1 >= ${MIN_AWS_CLI_V1}), jq, tar, sha256sum; skopeo (or docker
with an engine) to push --image; curl for the smoke test.
Remove everything with infra/down.sh (same --region and --stack).
EOF
}

parse_args() {
    while (($# > 0)); do
        case "$1" in
            --region) need_value "$1" $#; REGION="$2"; shift ;;
            --stack) need_value "$1" $#; STACK="$2"; shift ;;
            --dry-run) DRY_RUN=1 ;;
            --no-wait) NO_WAIT=1 ;;
            --image) need_value "$1" $#; IMAGE="$2"; shift ;;
            --image-uri) need_value "$1" $#; IMAGE_URI="$2"; shift ;;
            --arch) need_value "$1" $#; IMAGE_ARCH="$2"; shift ;;
            --model-id) need_value "$1" $#; MODEL_ID="$2"; shift ;;
            --allowed-models) need_value "$1" $#; ALLOWED_MODELS="$2"; shift ;;
            --max-output-tokens) need_value "$1" $#; MAX_OUTPUT_TOKENS="$2"; shift ;;
            --heartbeat-secs) need_value "$1" $#; HEARTBEAT_SECS="$2"; shift ;;
            --drain-secs) need_value "$1" $#; DRAIN_SECS="$2"; shift ;;
            --max-stream-secs) need_value "$1" $#; MAX_STREAM_SECS="$2"; shift ;;
            --upstream-idle-timeout-secs) need_value "$1" $#; UPSTREAM_IDLE_TIMEOUT_SECS="$2"; shift ;;
            --max-concurrent-streams) need_value "$1" $#; MAX_CONCURRENT_STREAMS="$2"; shift ;;
            --max-body-bytes) need_value "$1" $#; MAX_BODY_BYTES="$2"; shift ;;
            --rust-log) need_value "$1" $#; RUST_LOG="$2"; shift ;;
            --cpu) need_value "$1" $#; TASK_CPU="$2"; shift ;;
            --memory) need_value "$1" $#; TASK_MEMORY="$2"; shift ;;
            --min-tasks) need_value "$1" $#; MIN_TASKS="$2"; shift ;;
            --max-tasks) need_value "$1" $#; MAX_TASKS="$2"; shift ;;
            --desired-count) need_value "$1" $#; DESIRED_COUNT="$2"; shift ;;
            --cpu-target) need_value "$1" $#; SCALE_CPU_TARGET="$2"; shift ;;
            --alb-idle-timeout) need_value "$1" $#; ALB_IDLE_TIMEOUT="$2"; shift ;;
            --public) PUBLIC=1 ;;
            --rate-limit) need_value "$1" $#; THROTTLE_RATE="$2"; shift ;;
            --burst-limit) need_value "$1" $#; THROTTLE_BURST="$2"; shift ;;
            --quota-per-day) need_value "$1" $#; QUOTA_PER_DAY="$2"; shift ;;
            --stage) need_value "$1" $#; STAGE_NAME="$2"; shift ;;
            --vpc-cidr) need_value "$1" $#; VPC_CIDR="$2"; shift ;;
            --az-ids) need_value "$1" $#; AZ_IDS="$2"; shift ;;
            --log-retention-days) need_value "$1" $#; LOG_RETENTION_DAYS="$2"; shift ;;
            -h | --help) usage; exit 0 ;;
            *) die "unknown option '$1' (see --help)" ;;
        esac
        shift
    done
}

validate_config() {
    validate_stack_name
    [[ "${REGION}" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "'${REGION}' is not an AWS region name"
    [[ -n "${MODEL_ID}" ]] || die "--model-id must not be empty"
    require_integer --cpu "${TASK_CPU}" 256
    require_integer --memory "${TASK_MEMORY}" 512
    require_integer --min-tasks "${MIN_TASKS}" 1
    require_integer --max-tasks "${MAX_TASKS}" "${MIN_TASKS}"
    DESIRED_COUNT="${DESIRED_COUNT:-${MIN_TASKS}}"
    require_integer --desired-count "${DESIRED_COUNT}" "${MIN_TASKS}" "${MAX_TASKS}"
    require_integer --cpu-target "${SCALE_CPU_TARGET}" 10 95
    require_integer --heartbeat-secs "${HEARTBEAT_SECS}" 1
    # ECS allows at most 120 s between SIGTERM and SIGKILL on Fargate.
    require_integer --drain-secs "${DRAIN_SECS}" 1 100
    require_integer --max-stream-secs "${MAX_STREAM_SECS}" 1 $((INTEGRATION_TIMEOUT_MS / 1000 - 10))
    require_integer --upstream-idle-timeout-secs "${UPSTREAM_IDLE_TIMEOUT_SECS}" 1
    require_integer --max-concurrent-streams "${MAX_CONCURRENT_STREAMS}" 1
    [[ -z "${MAX_OUTPUT_TOKENS}" ]] || require_integer --max-output-tokens "${MAX_OUTPUT_TOKENS}" 1
    [[ -z "${MAX_BODY_BYTES}" ]] || require_integer --max-body-bytes "${MAX_BODY_BYTES}" 1
    # An idle connection must outlive the gap between two heartbeats.
    require_integer --alb-idle-timeout "${ALB_IDLE_TIMEOUT}" $((HEARTBEAT_SECS + 1)) 4000
    require_integer --rate-limit "${THROTTLE_RATE}" 1
    require_integer --burst-limit "${THROTTLE_BURST}" 1
    require_integer --quota-per-day "${QUOTA_PER_DAY}" 1
    require_integer --log-retention-days "${LOG_RETENTION_DAYS}" 1
    [[ "${STAGE_NAME}" =~ ^[A-Za-z0-9_]{1,64}$ ]] || die "--stage must be letters, digits or _"
    if ! [[ "${VPC_CIDR}" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.0\.0/16$ ]] ||
        ((BASH_REMATCH[1] > 255 || BASH_REMATCH[2] > 255)); then
        die "--vpc-cidr must be a /16 such as 10.42.0.0/16, got '${VPC_CIDR}'"
    fi
    if [[ -n "${IMAGE_URI}" ]]; then
        [[ -z "${IMAGE_ARCH}" ]] || cpu_architecture_of "${IMAGE_ARCH}" >/dev/null
    elif [[ "${DRY_RUN}" != 1 || -e "${IMAGE}" ]]; then
        [[ -f "${IMAGE}" ]] || die "image archive '${IMAGE}' not found: build it with 'nix build .#image' or pass --image-uri"
    fi
    if [[ -n "${IMAGE_PUSH_REGISTRY}" ]] && ! is_loopback_registry "${IMAGE_PUSH_REGISTRY}"; then
        die "IMAGE_PUSH_REGISTRY is for tests and must be a loopback address, got '${IMAGE_PUSH_REGISTRY}'"
    fi
}

# ----------------------------------------------------------------------------
# Waiting and smoke test (skipped with --no-wait)

show_service_events() {
    aws_read ecs describe-services --cluster "${CLUSTER_NAME}" --services "${SERVICE_NAME}" |
        jq -r '.services[0].events[:8][] | "    \(.createdAt)  \(.message)"' >&2 || true
}

wait_for_service() {
    step "Waiting for the service to be stable"
    if ! aws_read ecs wait services-stable --cluster "${CLUSTER_NAME}" --services "${SERVICE_NAME}"; then
        info "Latest service events:"
        show_service_events
        die "service ${SERVICE_NAME} did not become stable (the circuit breaker rolls back a failing deployment)"
    fi
    did stable "service ${SERVICE_NAME}"
}

health_answers() {
    [[ "$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "${ENDPOINT}/health" 2>/dev/null)" == 200 ]]
}

smoke_test() {
    step "Smoke test through API Gateway: /health, then a streamed /stream"
    wait_until "GET ${ENDPOINT}/health to answer 200" 180 10 health_answers
    did passed "GET /health -> 200"

    # Streaming is on end to end when the first event arrives well before the
    # last: a buffering hop would deliver everything at once.
    local started first="" last="" events=0 line key_header=()
    [[ -z "${API_KEY_VALUE}" ]] || key_header=(-H "x-api-key: ${API_KEY_VALUE}")
    started="${EPOCHREALTIME}"
    while IFS= read -r line; do
        [[ "${line}" == data:* ]] || continue
        events=$((events + 1))
        [[ -n "${first}" ]] || first="$(elapsed_since "${started}")"
        last="$(elapsed_since "${started}")"
    done < <(curl -sS -N --max-time 120 "${key_header[@]}" -H 'content-type: application/json' \
        -d '{"message":"Count from 1 to 40, one number per line, nothing else."}' "${ENDPOINT}/stream")
    ((events >= 2)) || die "POST /stream returned ${events} data events; check the logs in ${LOG_GROUP}"
    awk -v f="${first}" -v l="${last}" 'BEGIN { exit !(l - f >= 0.3 && f < 0.8 * l) }' ||
        die "POST /stream is buffered: first of ${events} events at ${first}s, last at ${last}s"
    did passed "POST /stream: ${events} events, first at ${first}s, last at ${last}s"
}

print_summary() {
    local key_option=""
    [[ -z "${API_KEY_VALUE}" ]] || key_option=" -H 'x-api-key: ${API_KEY_VALUE}'"
    info "Done in $(elapsed_since "${RUN_STARTED_AT}")s."
    if [[ "${DRY_RUN}" == 1 ]]; then
        info "Dry run: nothing was changed."
        return 0
    fi
    cat <<EOF

Endpoint:  ${ENDPOINT}
API key:   ${API_KEY_VALUE:-(none: --public)}

curl ${ENDPOINT}/health
curl -N${key_option} -H 'content-type: application/json' -d '{"message":"Hello"}' ${ENDPOINT}/stream
curl -N${key_option} -H 'content-type: application/json' -d '{"model":"${MODEL_ID}","stream":true,"messages":[{"role":"user","content":"Hello"}]}' ${ENDPOINT}/v1/chat/completions
Chat page: ${ENDPOINT}/
EOF
    if [[ "${NO_WAIT}" == 1 ]]; then
        cat <<EOF

(--no-wait: tasks may still be starting. Wait with:
 aws ecs wait services-stable --region ${REGION} --cluster ${CLUSTER_NAME} --services ${SERVICE_NAME})
EOF
    fi
}

main() {
    parse_args "$@"
    validate_config
    stack_names
    STEP_TOTAL=16
    ((NO_WAIT != 1 && DRY_RUN != 1)) || STEP_TOTAL=14
    local tools=(tar sha256sum awk)
    [[ -n "${IMAGE_URI}" || "${DRY_RUN}" == 1 ]] || tools+=(gzip)
    ((NO_WAIT == 1 || DRY_RUN == 1)) || tools+=(curl)
    check_prerequisites "${tools[@]}"
    resolve_account
    info "Stack ${STACK} in ${REGION}, account ${ACCOUNT}$([[ "${DRY_RUN}" == 1 ]] && echo " (dry run)")"

    ensure_vpc
    ensure_security_groups
    ensure_endpoints
    ensure_iam
    ensure_image
    ensure_logs_and_cluster
    ensure_load_balancer
    ensure_task_definition
    ensure_service
    ensure_autoscaling
    ensure_vpc_link
    ensure_rest_api
    ensure_deployment
    ensure_api_key
    ENDPOINT="https://${API_ID}.execute-api.${REGION}.amazonaws.com/${STAGE_NAME}"
    if ((NO_WAIT != 1 && DRY_RUN != 1)); then
        wait_for_service
        smoke_test
    fi
    print_summary
}

# Sourcing this file (the tests do) defines the functions without running.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
