# shellcheck shell=bash
# Shared by up.sh and down.sh: logging, step timing, the AWS CLI wrapper,
# dry-run handling, bounded waits and prerequisite checks.
#
# Conventions: progress goes to stderr, results (endpoint, key, curl lines) to
# stdout. Every AWS call goes through `aws_read` (never changes anything) or
# `aws_change` (skipped under --dry-run), so a dry run cannot mutate the account.

set -euo pipefail
shopt -s inherit_errexit

# The oldest v1 CLI that knows `put-integration --response-transfer-mode`
# and `--integration-target`; any v2 recent enough to know them passes too.
readonly MIN_AWS_CLI_V1="1.46.3"

# Values every run shares; the scripts fill them from flags and environment.
REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
STACK="${STACK_NAME:-bedrock-sse}"
DRY_RUN="${DRY_RUN:-0}"
ACCOUNT=""
PARTITION="aws"

# Placeholder id of a resource a dry run would create: lookups that depend on
# it are skipped instead of being sent to AWS with an id that does not exist.
readonly PLANNED_PREFIX="planned:"

CURRENT_STEP="start"
STEP_NUMBER=0
STEP_TOTAL=0
STEP_STARTED_AT=""
RUN_STARTED_AT="${EPOCHREALTIME}"
AWS_ERROR_FILE="$(mktemp)"
RERUN_HINT="Fix the cause and run the same command again: finished steps are found and reused."

if [[ -t 2 ]]; then
    _bold=$'\e[1m' _red=$'\e[31m' _yellow=$'\e[33m' _green=$'\e[32m' _dim=$'\e[2m' _reset=$'\e[0m'
else
    _bold="" _red="" _yellow="" _green="" _dim="" _reset=""
fi

elapsed_since() {
    # Seconds (one decimal) since the EPOCHREALTIME value given.
    local now="${EPOCHREALTIME}"
    awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

info() { printf '%s\n' "$*" >&2; }
warn() { printf '%sWARNING:%s %s\n' "${_yellow}${_bold}" "${_reset}" "$*" >&2; }
die() {
    printf '%sERROR:%s %s\n' "${_red}${_bold}" "${_reset}" "$*" >&2
    exit 1
}

step() {
    # Starts a numbered step; the EXIT trap names it if the run fails inside it.
    CURRENT_STEP="$1"
    STEP_NUMBER=$((STEP_NUMBER + 1))
    STEP_STARTED_AT="${EPOCHREALTIME}"
    printf '%s==> [%d/%d] %s%s %s(at %ss)%s\n' "${_bold}" "${STEP_NUMBER}" "${STEP_TOTAL}" \
        "$1" "${_reset}" "${_dim}" "$(elapsed_since "${RUN_STARTED_AT}")" "${_reset}" >&2
}

# One line per resource: what happened to it (created, reused, updated,
# deleted, skipped, would create...) and how long the step has taken so far.
did() {
    local verb="$1"
    shift
    local colour="${_green}"
    # Under --dry-run nothing is ensured, only planned.
    [[ "${DRY_RUN}" != 1 || "${verb}" != ensured ]] || verb="would ensure"
    [[ "${verb}" != would* ]] || colour="${_yellow}"
    printf '    %s%-13s%s %s %s(+%ss)%s\n' "${colour}" "${verb}" "${_reset}" "$*" \
        "${_dim}" "$(elapsed_since "${STEP_STARTED_AT:-${RUN_STARTED_AT}}")" "${_reset}" >&2
}

on_exit() {
    local status=$?
    rm -f "${AWS_ERROR_FILE}"
    # Before the first step (settings, prerequisites) the error itself says it all.
    if ((status != 0 && STEP_NUMBER > 0)); then
        printf '%sFAILED%s in step "%s" after %ss (exit %d).\n' "${_red}${_bold}" "${_reset}" \
            "${CURRENT_STEP}" "$(elapsed_since "${RUN_STARTED_AT}")" "${status}" >&2
        printf '%s\n' "${RERUN_HINT}" >&2
    fi
}
trap on_exit EXIT

is_planned() { [[ "${1:-}" == "${PLANNED_PREFIX}"* ]]; }

aws_read() {
    # A read-only AWS call. Prints JSON; on failure shows AWS's error and fails.
    if ! command aws --region "${REGION}" --output json "$@" 2>"${AWS_ERROR_FILE}"; then
        printf '%sAWS error%s from "aws %s %s":\n' "${_red}" "${_reset}" "$1" "${2:-}" >&2
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        return 1
    fi
}

aws_probe() {
    # A read-only call that may fail for an expected reason (not found): quiet,
    # leaves AWS's message in AWS_ERROR_FILE for the caller to inspect.
    command aws --region "${REGION}" --output json "$@" 2>"${AWS_ERROR_FILE}"
}

aws_value() {
    # A read whose --query result is printed bare: one line per list item,
    # nothing for null.
    aws_read "$@" | jq -r 'if . == null then empty elif type == "array" then .[] else . end'
}

aws_error_has() { grep -q -- "$1" "${AWS_ERROR_FILE}"; }

aws_change() {
    # A call that changes the account. Under --dry-run it is only described.
    if [[ "${DRY_RUN}" == 1 ]]; then
        printf '    %swould run%s     aws %s %s\n' "${_yellow}" "${_reset}" "$1" "${2:-}" >&2
        return 0
    fi
    aws_read "$@"
}

aws_change_allowing() {
    # Like aws_change, but an error whose text contains $1 (for example
    # InvalidPermission.Duplicate on a rerun) counts as success.
    local tolerated="$1"
    shift
    if [[ "${DRY_RUN}" == 1 ]]; then
        aws_change "$@"
        return 0
    fi
    if ! command aws --region "${REGION}" --output json "$@" 2>"${AWS_ERROR_FILE}"; then
        if aws_error_has "${tolerated}"; then
            return 0
        fi
        printf '%sAWS error%s from "aws %s %s":\n' "${_red}" "${_reset}" "$1" "${2:-}" >&2
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        return 1
    fi
}

wait_until() {
    # wait_until DESCRIPTION TIMEOUT_SECS INTERVAL_SECS COMMAND...
    # Polls COMMAND until it succeeds; fails with a clear message at the bound.
    local what="$1" timeout="$2" interval="$3"
    shift 3
    local started="${SECONDS}"
    until "$@"; do
        if ((SECONDS - started >= timeout)); then
            printf '%sgave up%s waiting for %s after %ds\n' "${_red}" "${_reset}" "${what}" "${timeout}" >&2
            return 1
        fi
        printf '    %swaiting%s       %s (%ds so far)\n' "${_dim}" "${_reset}" "${what}" \
            "$((SECONDS - started))" >&2
        sleep "${interval}"
    done
}

version_at_least() {
    # version_at_least HAVE NEED: true when HAVE >= NEED (dotted numbers).
    [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]
}

check_prerequisites() {
    # check_prerequisites TOOL...: every tool named, plus a capable AWS CLI.
    local missing=() tool
    for tool in aws jq "$@"; do
        command -v "${tool}" >/dev/null 2>&1 || missing+=("${tool}")
    done
    if ((${#missing[@]} > 0)); then
        die "missing prerequisite(s): ${missing[*]}. Install them and run again (AWS CLI v2, or v1 >= ${MIN_AWS_CLI_V1}: 'pip install \"awscli>=${MIN_AWS_CLI_V1}\"')."
    fi
    check_aws_cli_version
}

check_aws_cli_version() {
    local banner version
    banner="$(command aws --version 2>&1 || true)"
    version="$(sed -n 's|^aws-cli/\([0-9][0-9.]*\).*|\1|p' <<<"${banner}")"
    [[ -n "${version}" ]] || die "cannot read the AWS CLI version from: ${banner}"
    if [[ "${version}" == 1.* ]] && ! version_at_least "${version}" "${MIN_AWS_CLI_V1}"; then
        die "AWS CLI ${version} is too old: v1 must be >= ${MIN_AWS_CLI_V1} (older ones lack put-integration --response-transfer-mode and --integration-target). Upgrade with 'pip install -U \"awscli>=${MIN_AWS_CLI_V1}\"' or install AWS CLI v2."
    fi
    # A v2 is only as capable as its release: ask the CLI itself, offline.
    local skeleton
    skeleton="$(command aws apigateway put-integration --generate-cli-skeleton input 2>/dev/null || true)"
    if ! grep -q '"responseTransferMode"' <<<"${skeleton}" || ! grep -q '"integrationTarget"' <<<"${skeleton}"; then
        die "AWS CLI ${version} does not know put-integration --response-transfer-mode/--integration-target: update it (v2: the latest release; v1: >= ${MIN_AWS_CLI_V1})."
    fi
}

# shellcheck disable=SC2034 # ACCOUNT and PARTITION are read by the scripts
resolve_account() {
    # Who are we? Fails early, with a clear message, when there are no credentials.
    local identity arn
    if ! identity="$(aws_probe sts get-caller-identity)"; then
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        die "no usable AWS credentials for region ${REGION}: configure them (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and run again."
    fi
    ACCOUNT="$(jq -r .Account <<<"${identity}")"
    arn="$(jq -r .Arn <<<"${identity}")"
    PARTITION="$(cut -d: -f2 <<<"${arn}")"
}

validate_stack_name() {
    # Load balancer and target group names are capped at 32 characters and
    # get "-alb"/"-tg" appended: keep the stack name short and DNS-friendly.
    [[ "${STACK}" =~ ^[a-z][a-z0-9-]{0,22}[a-z0-9]$ ]] ||
        die "stack name '${STACK}' must be 2-24 characters of a-z, 0-9 and '-', starting with a letter."
}

need_value() {
    # need_value FLAG REMAINING_ARGC: a flag that takes a value got one.
    (($2 >= 2)) || die "$1 needs a value (see --help)"
}

require_integer() {
    # require_integer NAME VALUE [MIN] [MAX]
    local name="$1" value="$2" min="${3:-0}" max="${4:-}"
    [[ "${value}" =~ ^[0-9]+$ ]] || die "${name} must be a whole number, got '${value}'"
    ((value >= min)) || die "${name} must be at least ${min}, got ${value}"
    if [[ -n "${max}" ]]; then
        ((value <= max)) || die "${name} must be at most ${max}, got ${value}"
    fi
}

aws_change_value() {
    # A change whose --query result is printed bare (nothing under --dry-run).
    aws_change "$@" | jq -r 'if . == null then empty elif type == "array" then .[] else . end'
}

create_or_plan() {
    # create_or_plan DESCRIPTION AWS_ARGS...: runs a create call whose --query
    # yields the new id and prints it; under --dry-run prints a placeholder.
    local description="$1"
    shift
    if [[ "${DRY_RUN}" == 1 ]]; then
        did "would create" "${description}"
        echo "${PLANNED_PREFIX}${description}"
        return 0
    fi
    local id
    id="$(aws_change_value "$@")"
    [[ -n "${id}" ]] || die "creating ${description} returned no id"
    did created "${description} ${id}"
    echo "${id}"
}

# Names every resource of a stack shares, so up.sh and down.sh agree on them.
# shellcheck disable=SC2034 # read by the scripts that source this file
stack_names() {
    VPC_NAME="${STACK}-vpc"
    ROUTE_TABLE_NAME="${STACK}-private"
    SG_VPC_LINK_NAME="${STACK}-vpc-link"
    SG_ALB_NAME="${STACK}-alb"
    SG_TASKS_NAME="${STACK}-tasks"
    SG_ENDPOINTS_NAME="${STACK}-endpoints"
    EXECUTION_ROLE_NAME="${STACK}-${REGION}-execution"
    TASK_ROLE_NAME="${STACK}-${REGION}-task"
    TASK_POLICY_NAME="invoke-bedrock-model"
    ECR_REPOSITORY="${STACK}"
    LOG_GROUP="/ecs/${STACK}"
    CLUSTER_NAME="${STACK}"
    SERVICE_NAME="${STACK}"
    TASK_FAMILY="${STACK}"
    CONTAINER_NAME="server"
    ALB_NAME="${STACK}-alb"
    TARGET_GROUP_NAME="${STACK}-tg"
    VPC_LINK_NAME="${STACK}-link"
    API_NAME="${STACK}"
    API_KEY_NAME="${STACK}-key"
    USAGE_PLAN_NAME="${STACK}-plan"
    SCALING_POLICY_NAME="${STACK}-cpu"
    INTERFACE_ENDPOINT_SERVICES=(ecr.api ecr.dkr logs bedrock-runtime)
}

# Tags on every resource; `Stack` is what the scripts search by.
tag_list_ec2() { printf 'Tags=[{Key=Stack,Value=%s},{Key=Name,Value=%s},{Key=Project,Value=bedrock-sse}]' "${STACK}" "$1"; }
tag_spec() { printf 'ResourceType=%s,%s' "$1" "$(tag_list_ec2 "$2")"; }
