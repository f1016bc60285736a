# shellcheck shell=bash
# shellcheck disable=SC2034 # sets globals that up.sh reads
# up.sh steps for IAM: the task execution role and the task role, which may
# only stream from the configured models. Sourced by up.sh; reads its settings.

model_statements() {
    # model_statements MODEL SID_PREFIX: the IAM statements that allow
    # streaming inference on one model id, as Bedrock documents them.
    local model="$1" sid="$2" action="bedrock:InvokeModelWithResponseStream"
    local scope="${model%%.*}" base="${model#*.}"
    local profile_arn="arn:${PARTITION}:bedrock:${REGION}:${ACCOUNT}:inference-profile/${model}"
    case "${scope}" in
        global)
            # A global profile: the profile in this region, the model in this
            # region, and the region-less model ARN that global routing uses
            # (there aws:RequestedRegion is the literal "unspecified").
            jq -n --arg a "${action}" --arg s "${sid}" --arg profile "${profile_arn}" \
                --arg regional "arn:${PARTITION}:bedrock:${REGION}::foundation-model/${base}" \
                --arg global "arn:${PARTITION}:bedrock:::foundation-model/${base}" --arg region "${REGION}" '[
                {Sid: "\($s)Profile", Effect: "Allow", Action: $a, Resource: $profile,
                 Condition: {StringEquals: {"aws:RequestedRegion": $region}}},
                {Sid: "\($s)RegionalModel", Effect: "Allow", Action: $a, Resource: $regional,
                 Condition: {StringEquals: {"aws:RequestedRegion": $region, "bedrock:InferenceProfileArn": $profile}}},
                {Sid: "\($s)GlobalModel", Effect: "Allow", Action: $a, Resource: $global,
                 Condition: {StringEquals: {"aws:RequestedRegion": "unspecified", "bedrock:InferenceProfileArn": $profile}}}]'
            ;;
        us | eu | apac | jp | au | ca | us-gov)
            # A geographic profile routes to the model in any of its regions.
            jq -n --arg a "${action}" --arg s "${sid}" --arg profile "${profile_arn}" \
                --arg models "arn:${PARTITION}:bedrock:*::foundation-model/${base}" '[
                {Sid: "\($s)Profile", Effect: "Allow", Action: $a, Resource: $profile},
                {Sid: "\($s)Model", Effect: "Allow", Action: $a, Resource: $models,
                 Condition: {StringEquals: {"bedrock:InferenceProfileArn": $profile}}}]'
            ;;
        *)
            jq -n --arg a "${action}" --arg s "${sid}" \
                --arg model "arn:${PARTITION}:bedrock:${REGION}::foundation-model/${model}" '[
                {Sid: "\($s)Model", Effect: "Allow", Action: $a, Resource: $model}]'
            ;;
    esac
}

task_role_policy() {
    # The configured model plus every model clients may choose.
    local models=("${MODEL_ID}") extra index=0 statements="[]"
    IFS=',' read -r -a extra <<<"${ALLOWED_MODELS}"
    local model
    for model in "${extra[@]}"; do
        model="${model// /}"
        if [[ -n "${model}" && " ${models[*]} " != *" ${model} "* ]]; then
            models+=("${model}")
        fi
    done
    for model in "${models[@]}"; do
        index=$((index + 1))
        statements="$(jq -c --argjson more "$(model_statements "${model}" "Model${index}")" '. + $more' \
            <<<"${statements}")"
    done
    jq -nc --argjson s "${statements}" '{Version: "2012-10-17", Statement: $s}'
}

ensure_role() {
    # ensure_role NAME DESCRIPTION: prints the role ARN.
    local name="$1" description="$2" trust arn
    # Only ECS tasks of this account and region may assume the role.
    trust="$(jq -nc --arg account "${ACCOUNT}" --arg source "arn:${PARTITION}:ecs:${REGION}:${ACCOUNT}:*" '{
        Version: "2012-10-17",
        Statement: [{Effect: "Allow", Principal: {Service: "ecs-tasks.amazonaws.com"},
                     Action: "sts:AssumeRole",
                     Condition: {StringEquals: {"aws:SourceAccount": $account}, ArnLike: {"aws:SourceArn": $source}}}]}')"
    local role
    if role="$(aws_probe iam get-role --role-name "${name}" --query Role)"; then
        arn="$(jq -r .Arn <<<"${role}")"
        if [[ "$(jq -S -c .AssumeRolePolicyDocument <<<"${role}")" == "$(jq -S -c . <<<"${trust}")" ]]; then
            did reused "role ${name}"
        else
            aws_change iam update-assume-role-policy --role-name "${name}" --policy-document "${trust}" >/dev/null
            did updated "trust policy of role ${name}"
        fi
    elif aws_error_has NoSuchEntity; then
        arn="$(create_or_plan "role ${name}" iam create-role --role-name "${name}" \
            --description "${description}" --assume-role-policy-document "${trust}" \
            --tags "Key=Stack,Value=${STACK}" "Key=Project,Value=bedrock-sse" --query Role.Arn)"
        ! is_planned "${arn}" || arn="arn:${PARTITION}:iam::${ACCOUNT}:role/${name}"
    else
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        die "cannot read IAM role ${name}"
    fi
    echo "${arn}"
}

ensure_iam() {
    step "IAM roles (task execution; task: stream ${MODEL_ID} only)"
    EXECUTION_ROLE_ARN="$(ensure_role "${EXECUTION_ROLE_NAME}" "bedrock-sse ${STACK}: pull the image and write logs")"
    aws_change iam attach-role-policy --role-name "${EXECUTION_ROLE_NAME}" \
        --policy-arn "arn:${PARTITION}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" >/dev/null
    TASK_ROLE_ARN="$(ensure_role "${TASK_ROLE_NAME}" "bedrock-sse ${STACK}: stream from the configured Bedrock model")"
    aws_change iam put-role-policy --role-name "${TASK_ROLE_NAME}" --policy-name "${TASK_POLICY_NAME}" \
        --policy-document "$(task_role_policy)" >/dev/null
    did ensured "policy ${TASK_POLICY_NAME}: bedrock:InvokeModelWithResponseStream on ${MODEL_ID}${ALLOWED_MODELS:+,${ALLOWED_MODELS}}"
}
