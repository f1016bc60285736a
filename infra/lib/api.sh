# shellcheck shell=bash
# shellcheck disable=SC2034 # sets globals that up.sh reads
# up.sh steps for API Gateway: the VPC link, the REST API with its streaming
# private integrations, the deployment and stage, the API key and usage plan.
# Sourced by up.sh; reads its settings.

vpc_link_status() {
    aws_value apigatewayv2 get-vpc-link --vpc-link-id "${VPC_LINK_ID}" --query VpcLinkStatus
}

vpc_link_is_available() {
    local status
    status="$(vpc_link_status)"
    if [[ "${status}" == FAILED ]]; then
        die "VPC link ${VPC_LINK_ID} FAILED: $(aws_value apigatewayv2 get-vpc-link --vpc-link-id "${VPC_LINK_ID}" \
            --query VpcLinkStatusMessage). Remove it (infra/down.sh) and run again."
    fi
    [[ "${status}" == AVAILABLE ]]
}

ensure_vpc_link() {
    step "VPC link v2 (API Gateway -> ALB)"
    VPC_LINK_ID="$(aws_read apigatewayv2 get-vpc-links | jq -r --arg n "${VPC_LINK_NAME}" --arg s "${STACK}" \
        '[.Items[]? | select(.Name == $n and .Tags.Stack == $s)][0].VpcLinkId // empty')"
    if [[ -n "${VPC_LINK_ID}" ]]; then
        did reused "VPC link ${VPC_LINK_ID}"
    else
        VPC_LINK_ID="$(create_or_plan "VPC link ${VPC_LINK_NAME}" apigatewayv2 create-vpc-link \
            --name "${VPC_LINK_NAME}" --subnet-ids "${SUBNET_IDS[@]}" --security-group-ids "${SG_VPC_LINK}" \
            --tags "Stack=${STACK},Project=bedrock-sse" --query VpcLinkId)"
    fi
    if ! is_planned "${VPC_LINK_ID}"; then
        # There is no waiter for VPC links: poll, bounded.
        wait_until "VPC link ${VPC_LINK_ID} to become AVAILABLE" "${VPC_LINK_TIMEOUT_SECS}" 15 vpc_link_is_available
        did available "VPC link ${VPC_LINK_ID}"
    fi
}

# Routes: "METHOD PATH KEY", KEY "key" when the route spends Bedrock tokens and
# so needs the API key, "open" for the page and the health check.
readonly ROUTES=(
    "GET / open"
    "GET /health open"
    "GET /stream key"
    "POST /stream key"
    "POST /v1/chat/completions key"
)

ensure_resource_path() {
    # ensure_resource_path PATH: creates missing path parts; updates RESOURCE_IDS.
    local path="$1" parent="/" current="" part id
    [[ "${path}" != / ]] || return 0
    local parts
    IFS='/' read -r -a parts <<<"${path#/}"
    for part in "${parts[@]}"; do
        current+="/${part}"
        id="$(jq -r --arg p "${current}" '.[$p] // empty' <<<"${RESOURCE_IDS}")"
        if [[ -z "${id}" ]]; then
            id="$(create_or_plan "resource ${current}" apigateway create-resource --rest-api-id "${API_ID}" \
                --parent-id "$(jq -r --arg p "${parent}" '.[$p]' <<<"${RESOURCE_IDS}")" \
                --path-part "${part}" --query id)"
            RESOURCE_IDS="$(jq -c --arg p "${current}" --arg id "${id}" '.[$p] = $id' <<<"${RESOURCE_IDS}")"
        fi
        parent="${current}"
    done
}

ensure_route() {
    # ensure_route METHOD PATH KEY: the method and its streaming private integration.
    local method="$1" path="$2" access="$3" resource key_required=false existing
    if [[ "${access}" == key && "${PUBLIC}" != 1 ]]; then
        key_required=true
    fi
    resource="$(jq -r --arg p "${path}" '.[$p]' <<<"${RESOURCE_IDS}")"
    # What the method requires now, from get-resources --embed methods.
    existing="$(jq -r --arg p "${path}" --arg m "${method}" \
        '.[] | select(.path == $p) | .resourceMethods[$m].apiKeyRequired // empty' <<<"${RESOURCES}")"
    if [[ -n "${existing}" ]]; then
        if [[ "${existing}" != "${key_required}" ]]; then
            # update-method would do, but the method is re-created instead so that
            # one code path serves AWS and emulators alike; nothing is live until
            # the deployment below.
            aws_change apigateway delete-method --rest-api-id "${API_ID}" --resource-id "${resource}" \
                --http-method "${method}" >/dev/null
            existing=""
        fi
    fi
    if [[ -z "${existing}" ]]; then
        local key_flag=--no-api-key-required
        [[ "${key_required}" != true ]] || key_flag=--api-key-required
        aws_change apigateway put-method --rest-api-id "${API_ID}" --resource-id "${resource}" \
            --http-method "${method}" --authorization-type NONE "${key_flag}" >/dev/null
    fi
    # Re-put every run: PutIntegration replaces the whole integration, which is
    # how a changed ALB or link is picked up (emulators lack update-integration).
    aws_change apigateway put-integration --rest-api-id "${API_ID}" --resource-id "${resource}" \
        --http-method "${method}" --type HTTP_PROXY --integration-http-method "${method}" \
        --uri "http://${ALB_DNS}${path}" --connection-type VPC_LINK --connection-id "${VPC_LINK_ID}" \
        --integration-target "${ALB_ARN}" --response-transfer-mode STREAM \
        --timeout-in-millis "${INTEGRATION_TIMEOUT_MS}" >/dev/null
    did ensured "${method} ${path} (api key: ${key_required}) -> streaming HTTP_PROXY via ${VPC_LINK_ID}"
}

ensure_rest_api() {
    step "REST API (REGIONAL), routes with streaming private integrations"
    local found
    found="$(aws_read apigateway get-rest-apis | jq -c --arg n "${API_NAME}" --arg s "${STACK}" \
        '[.items[]? | select(.name == $n and .tags.Stack == $s)][0] // empty')"
    if [[ -n "${found}" ]]; then
        API_ID="$(jq -r .id <<<"${found}")"
        # EDGE has a 30 s idle limit that kills quiet streams.
        [[ "$(jq -r '.endpointConfiguration.types | join(",")' <<<"${found}")" == REGIONAL ]] ||
            die "REST API ${API_ID} is not REGIONAL; delete it (infra/down.sh) and run again"
        did reused "REST API ${API_ID}"
    else
        API_ID="$(create_or_plan "REST API ${API_NAME} (REGIONAL)" apigateway create-rest-api \
            --name "${API_NAME}" --description "bedrock-sse streaming endpoint (${STACK})" \
            --endpoint-configuration types=REGIONAL --api-key-source HEADER \
            --tags "Stack=${STACK},Project=bedrock-sse" --query id)"
    fi
    RESOURCES="[]"
    RESOURCE_IDS='{"/": "'"${PLANNED_PREFIX}"'root"}'
    if ! is_planned "${API_ID}"; then
        RESOURCES="$(aws_read apigateway get-resources --rest-api-id "${API_ID}" --limit 500 \
            --embed methods --query items)"
        RESOURCE_IDS="$(jq -c '[.[] | {key: .path, value: .id}] | from_entries' <<<"${RESOURCES}")"
    fi
    local route method path access
    for route in "${ROUTES[@]}"; do
        read -r method path access <<<"${route}"
        ensure_resource_path "${path}"
        ensure_route "${method}" "${path}" "${access}"
    done
    if [[ "${PUBLIC}" == 1 ]]; then
        warn "--public: /stream and /v1/chat/completions need no API key. Anyone who finds the URL can spend this account's Bedrock budget; only throttling (${THROTTLE_RATE} rps, burst ${THROTTLE_BURST}) limits them."
    fi
}

ensure_deployment() {
    step "Deployment and stage ${STAGE_NAME} (throttling ${THROTTLE_RATE} rps, burst ${THROTTLE_BURST})"
    # Every run deploys, so the stage serves what the routes now say.
    local deployment
    deployment="$(create_or_plan "deployment of ${API_ID}" apigateway create-deployment \
        --rest-api-id "${API_ID}" --description "infra/up.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)" --query id)"
    # Stage-wide throttling applies with or without an API key.
    local patches=("op=replace,path=/*/*/throttling/rateLimit,value=${THROTTLE_RATE}"
        "op=replace,path=/*/*/throttling/burstLimit,value=${THROTTLE_BURST}")
    if ! is_planned "${API_ID}" && aws_probe apigateway get-stage --rest-api-id "${API_ID}" \
        --stage-name "${STAGE_NAME}" >/dev/null; then
        aws_change apigateway update-stage --rest-api-id "${API_ID}" --stage-name "${STAGE_NAME}" \
            --patch-operations "op=replace,path=/deploymentId,value=${deployment}" "${patches[@]}" >/dev/null
        did updated "stage ${STAGE_NAME} -> deployment ${deployment}"
    else
        create_or_plan "stage ${STAGE_NAME}" apigateway create-stage --rest-api-id "${API_ID}" \
            --stage-name "${STAGE_NAME}" --deployment-id "${deployment}" \
            --tags "Stack=${STACK},Project=bedrock-sse" --query stageName >/dev/null
        aws_change apigateway update-stage --rest-api-id "${API_ID}" --stage-name "${STAGE_NAME}" \
            --patch-operations "${patches[@]}" >/dev/null
    fi
}

ensure_api_key() {
    step "API key and usage plan (quota ${QUOTA_PER_DAY}/day)"
    API_KEY_VALUE=""
    if [[ "${PUBLIC}" == 1 ]]; then
        did skipped "--public: no API key"
        return 0
    fi
    local key
    key="$(aws_read apigateway get-api-keys --name-query "${API_KEY_NAME}" --include-values |
        jq -c --arg n "${API_KEY_NAME}" '[.items[]? | select(.name == $n)][0] // empty')"
    if [[ -n "${key}" ]]; then
        API_KEY_ID="$(jq -r .id <<<"${key}")"
        API_KEY_VALUE="$(jq -r .value <<<"${key}")"
        did reused "API key ${API_KEY_ID}"
    elif [[ "${DRY_RUN}" == 1 ]]; then
        did "would create" "API key ${API_KEY_NAME}"
        API_KEY_ID="${PLANNED_PREFIX}key"
    else
        key="$(aws_change apigateway create-api-key --name "${API_KEY_NAME}" --enabled \
            --tags "Stack=${STACK},Project=bedrock-sse")"
        API_KEY_ID="$(jq -r .id <<<"${key}")"
        API_KEY_VALUE="$(jq -r .value <<<"${key}")"
        did created "API key ${API_KEY_ID}"
    fi

    local plan plan_id
    plan="$(aws_read apigateway get-usage-plans | jq -c --arg n "${USAGE_PLAN_NAME}" \
        '[.items[]? | select(.name == $n)][0] // empty')"
    if [[ -n "${plan}" ]]; then
        plan_id="$(jq -r .id <<<"${plan}")"
        local verb=reused
        if ! jq -e --argjson r "${THROTTLE_RATE}" --argjson b "${THROTTLE_BURST}" --argjson q "${QUOTA_PER_DAY}" \
            '.throttle.rateLimit == $r and .throttle.burstLimit == $b and .quota.limit == $q' \
            <<<"${plan}" >/dev/null; then
            aws_change apigateway update-usage-plan --usage-plan-id "${plan_id}" --patch-operations \
                "op=replace,path=/throttle/rateLimit,value=${THROTTLE_RATE}" \
                "op=replace,path=/throttle/burstLimit,value=${THROTTLE_BURST}" \
                "op=replace,path=/quota/limit,value=${QUOTA_PER_DAY}" >/dev/null
            verb=updated
        fi
        if ! jq -e --arg api "${API_ID}" --arg stage "${STAGE_NAME}" \
            '.apiStages[]? | select(.apiId == $api and .stage == $stage)' <<<"${plan}" >/dev/null; then
            aws_change apigateway update-usage-plan --usage-plan-id "${plan_id}" --patch-operations \
                "op=add,path=/apiStages,value=${API_ID}:${STAGE_NAME}" >/dev/null
            verb=updated
        fi
        [[ "${DRY_RUN}" != 1 || "${verb}" == reused ]] || verb="would update"
        did "${verb}" "usage plan ${plan_id}"
    else
        plan_id="$(create_or_plan "usage plan ${USAGE_PLAN_NAME}" apigateway create-usage-plan \
            --name "${USAGE_PLAN_NAME}" --description "bedrock-sse ${STACK}" \
            --api-stages "apiId=${API_ID},stage=${STAGE_NAME}" \
            --throttle "burstLimit=${THROTTLE_BURST},rateLimit=${THROTTLE_RATE}" \
            --quota "limit=${QUOTA_PER_DAY},period=DAY" \
            --tags "Stack=${STACK},Project=bedrock-sse" --query id)"
    fi
    local linked=""
    if ! is_planned "${plan_id}"; then
        linked="$(aws_value apigateway get-usage-plan-keys --usage-plan-id "${plan_id}" --query 'items[].id')"
    fi
    if ! grep -qx -- "${API_KEY_ID}" <<<"${linked}"; then
        aws_change apigateway create-usage-plan-key --usage-plan-id "${plan_id}" \
            --key-id "${API_KEY_ID}" --key-type API_KEY >/dev/null
        [[ "${DRY_RUN}" == 1 ]] || did linked "API key ${API_KEY_ID} to usage plan ${plan_id}"
    fi
}
