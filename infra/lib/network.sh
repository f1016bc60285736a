# shellcheck shell=bash
# shellcheck disable=SC2016 # backticks in --query are JMESPath literals
# up.sh steps for the network: VPC, private subnets, route table, security
# groups and VPC endpoints. Sourced by up.sh; reads its settings.

subnet_cidr() {
    # The Nth (0-based) /20 inside the /16.
    local prefix="${VPC_CIDR%.0.0/16}"
    echo "${prefix}.$(($1 * 16)).0/20"
}

ensure_vpc() {
    step "VPC, private subnets and route table (no internet gateway, no NAT)"
    VPC_ID="$(aws_value ec2 describe-vpcs --filters "Name=tag:Stack,Values=${STACK}" \
        "Name=tag:Name,Values=${VPC_NAME}" --query 'Vpcs[0].VpcId')"
    if [[ -n "${VPC_ID}" ]]; then
        did reused "VPC ${VPC_ID}"
    else
        VPC_ID="$(create_or_plan "VPC ${VPC_NAME} (${VPC_CIDR})" ec2 create-vpc \
            --cidr-block "${VPC_CIDR}" --tag-specifications "$(tag_spec vpc "${VPC_NAME}")" \
            --query Vpc.VpcId)"
        if ! is_planned "${VPC_ID}"; then
            # Private DNS of the interface endpoints needs both.
            aws_change ec2 modify-vpc-attribute --vpc-id "${VPC_ID}" --enable-dns-support '{"Value":true}' >/dev/null
            aws_change ec2 modify-vpc-attribute --vpc-id "${VPC_ID}" --enable-dns-hostnames '{"Value":true}' >/dev/null
        fi
    fi

    ensure_subnets

    ROUTE_TABLE_ID=""
    local table="{}"
    if ! is_planned "${VPC_ID}"; then
        table="$(aws_read ec2 describe-route-tables --filters "Name=vpc-id,Values=${VPC_ID}" \
            "Name=tag:Name,Values=${ROUTE_TABLE_NAME}" --query 'RouteTables[0]')"
        ROUTE_TABLE_ID="$(jq -r '.RouteTableId // empty' <<<"${table}")"
    fi
    if [[ -n "${ROUTE_TABLE_ID}" ]]; then
        did reused "route table ${ROUTE_TABLE_ID} (local routes only)"
    else
        ROUTE_TABLE_ID="$(create_or_plan "route table ${ROUTE_TABLE_NAME} (local routes only)" \
            ec2 create-route-table --vpc-id "${VPC_ID}" \
            --tag-specifications "$(tag_spec route-table "${ROUTE_TABLE_NAME}")" \
            --query RouteTable.RouteTableId)"
    fi
    local associated subnet
    associated="$(jq -r '.Associations[]?.SubnetId // empty' <<<"${table}")"
    for subnet in "${SUBNET_IDS[@]}"; do
        if ! grep -qx -- "${subnet}" <<<"${associated}"; then
            aws_change ec2 associate-route-table --route-table-id "${ROUTE_TABLE_ID}" \
                --subnet-id "${subnet}" >/dev/null
            [[ "${DRY_RUN}" == 1 ]] || did associated "subnet ${subnet} with ${ROUTE_TABLE_ID}"
        fi
    done
}

choose_zone_ids() {
    # Two AZ IDs where VPC link v2 and all four interface endpoints exist.
    # Prints "ZONE_ID ZONE_NAME" lines, best first.
    local zones service names
    zones="$(aws_read ec2 describe-availability-zones \
        --filters Name=zone-type,Values=availability-zone Name=state,Values=available \
        --query 'AvailabilityZones[].[ZoneId,ZoneName]' | jq -r '.[] | "\(.[0]) \(.[1])"' | sort -k2)"
    if [[ -n "${AZ_IDS}" ]]; then
        local wanted id line result=""
        IFS=',' read -r -a wanted <<<"${AZ_IDS}"
        ((${#wanted[@]} == 2)) || die "--az-ids needs exactly two AZ IDs, got '${AZ_IDS}'"
        for id in "${wanted[@]}"; do
            line="$(awk -v id="${id}" '$1 == id' <<<"${zones}")"
            [[ -n "${line}" ]] || die "AZ ID '${id}' is not an available zone in ${REGION}"
            result+="${line}"$'\n'
        done
        printf '%s' "${result}"
        return 0
    fi
    local services=() details
    for service in "${INTERFACE_ENDPOINT_SERVICES[@]}"; do
        services+=("com.amazonaws.${REGION}.${service}")
    done
    if ! details="$(aws_probe ec2 describe-vpc-endpoint-services --service-names "${services[@]}" \
        --query ServiceDetails)"; then
        sed 's/^/    /' "${AWS_ERROR_FILE}" >&2
        die "not every endpoint this stack needs (${INTERFACE_ENDPOINT_SERVICES[*]}) exists in ${REGION}: pick a region where Bedrock offers PrivateLink"
    fi
    for service in "${services[@]}"; do
        names="$(jq -r --arg s "${service}" '.[] | select(.ServiceName == $s) | .AvailabilityZones[]' <<<"${details}")"
        [[ -n "${names}" ]] || die "no VPC endpoint for ${service} in ${REGION}"
        zones="$(awk 'NR == FNR { ok[$1] = 1; next } ok[$2]' <(printf '%s\n' "${names}") - <<<"${zones}")"
    done
    zones="$(awk -v bad=" ${VPC_LINK_UNSUPPORTED_AZ_IDS} " 'index(bad, " " $1 " ") == 0' <<<"${zones}")"
    (($(grep -c . <<<"${zones}" || true) >= 2)) ||
        die "fewer than two Availability Zones in ${REGION} support VPC link v2 and the endpoints; pass --az-ids"
    printf '%s\n' "${zones}"
}

ensure_subnets() {
    SUBNET_IDS=()
    local existing=""
    if ! is_planned "${VPC_ID}"; then
        existing="$(aws_read ec2 describe-subnets --filters "Name=vpc-id,Values=${VPC_ID}" \
            "Name=tag:Stack,Values=${STACK}" \
            --query 'Subnets[].[Tags[?Key==`Name`]|[0].Value,SubnetId,AvailabilityZoneId,MapPublicIpOnLaunch]' |
            jq -r '.[] | @tsv')"
    fi
    local candidates used_zones index name line subnet zone_id zone_name public
    candidates=""
    used_zones="$(cut -f3 <<<"${existing}")"
    for index in 0 1; do
        name="${STACK}-private-$((index + 1))"
        line="$(awk -F'\t' -v n="${name}" '$1 == n' <<<"${existing}")"
        public=true
        if [[ -n "${line}" ]]; then
            subnet="$(cut -f2 <<<"${line}")"
            public="$(cut -f4 <<<"${line}")"
            did reused "subnet ${subnet} in $(cut -f3 <<<"${line}")"
        else
            # The first candidate zone that no subnet of this stack uses yet.
            [[ -n "${candidates}" ]] || candidates="$(choose_zone_ids)"
            zone_id="" zone_name=""
            read -r zone_id zone_name < <(awk 'NR == FNR { if ($0 != "") used[$0] = 1; next } !used[$1]' \
                <(printf '%s\n' "${used_zones}") - <<<"${candidates}" | head -n1) || true
            [[ -n "${zone_id:-}" ]] || die "no Availability Zone left for subnet ${name}"
            used_zones+=$'\n'"${zone_id}"
            subnet="$(create_or_plan "subnet ${name} in ${zone_id} (${zone_name})" ec2 create-subnet \
                --vpc-id "${VPC_ID}" --cidr-block "$(subnet_cidr "${index}")" \
                --availability-zone-id "${zone_id}" \
                --tag-specifications "$(tag_spec subnet "${name}")" --query Subnet.SubnetId)"
        fi
        if [[ "${public}" == true ]] && ! is_planned "${subnet}"; then
            aws_change ec2 modify-subnet-attribute --subnet-id "${subnet}" \
                --no-map-public-ip-on-launch >/dev/null
        fi
        SUBNET_IDS+=("${subnet}")
    done
}

ensure_security_group() {
    # ensure_security_group NAME DESCRIPTION: prints the group id. AWS's
    # default allow-all egress rule is removed; rules are added explicitly.
    local name="$1" description="$2" group id
    group="$(jq -c --arg n "${name}" '[.[] | select(.GroupName == $n)][0] // empty' <<<"${SECURITY_GROUPS}")"
    if [[ -n "${group}" ]]; then
        id="$(jq -r .GroupId <<<"${group}")"
        did reused "security group ${name} ${id}"
    else
        id="$(create_or_plan "security group ${name}" ec2 create-security-group \
            --group-name "${name}" --description "${description}" --vpc-id "${VPC_ID}" \
            --tag-specifications "$(tag_spec security-group "${name}")" --query GroupId)"
        # A new group starts with AWS's allow-all egress rule.
        group='{"IpPermissionsEgress":[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]}'
    fi
    if ! is_planned "${id}" && jq -e '.IpPermissionsEgress[]? | select(.IpRanges[]?.CidrIp == "0.0.0.0/0")' \
        <<<"${group}" >/dev/null; then
        aws_change_allowing InvalidPermission.NotFound ec2 revoke-security-group-egress --group-id "${id}" \
            --ip-permissions '[{"IpProtocol":"-1","IpRanges":[{"CidrIp":"0.0.0.0/0"}]}]' >/dev/null
    fi
    echo "${id}"
}

allow() {
    # allow ingress|egress GROUP PORT PEER DESCRIPTION, where PEER is a security
    # group id, a CIDR or a prefix list id. Skips rules that already exist.
    local direction="$1" group="$2" port="$3" peer="$4" description="$5" kind field
    case "${peer}" in
        pl-*) kind=PrefixListIds field=PrefixListId ;;
        */*) kind=IpRanges field=CidrIp ;;
        *) kind=UserIdGroupPairs field=GroupId ;;
    esac
    local list=IpPermissions
    [[ "${direction}" != egress ]] || list=IpPermissionsEgress
    if jq -e --arg g "${group}" --arg list "${list}" --arg kind "${kind}" --arg field "${field}" \
        --arg peer "${peer}" --argjson port "${port}" '.[] | select(.GroupId == $g) | .[$list][]?
            | select(.IpProtocol == "tcp" and .FromPort == $port and .ToPort == $port)
            | .[$kind][]? | select(.[$field] == $peer)' <<<"${SECURITY_GROUPS}" >/dev/null; then
        return 0
    fi
    local permission
    permission="$(jq -nc --arg kind "${kind}" --arg field "${field}" --arg peer "${peer}" \
        --arg d "${description}" --argjson port "${port}" \
        '{IpProtocol: "tcp", FromPort: $port, ToPort: $port, ($kind): [{($field): $peer, Description: $d}]}')"
    aws_change_allowing InvalidPermission.Duplicate ec2 "authorize-security-group-${direction}" \
        --group-id "${group}" --ip-permissions "[${permission}]" >/dev/null
    RULES_ADDED=$((RULES_ADDED + 1))
}

ensure_security_groups() {
    step "Security groups (VPC link -> ALB -> tasks -> endpoints)"
    SECURITY_GROUPS="[]"
    if ! is_planned "${VPC_ID}"; then
        SECURITY_GROUPS="$(aws_read ec2 describe-security-groups --filters "Name=vpc-id,Values=${VPC_ID}" \
            "Name=group-name,Values=${SG_VPC_LINK_NAME},${SG_ALB_NAME},${SG_TASKS_NAME},${SG_ENDPOINTS_NAME}" \
            --query SecurityGroups)"
    fi
    SG_VPC_LINK="$(ensure_security_group "${SG_VPC_LINK_NAME}" "API Gateway VPC link to the ALB")"
    SG_ALB="$(ensure_security_group "${SG_ALB_NAME}" "Internal ALB, reachable from the VPC link only")"
    SG_TASKS="$(ensure_security_group "${SG_TASKS_NAME}" "Fargate tasks, reachable from the ALB only")"
    SG_ENDPOINTS="$(ensure_security_group "${SG_ENDPOINTS_NAME}" "Interface endpoints, HTTPS from the VPC only")"

    local s3_prefix_list
    s3_prefix_list="$(aws_value ec2 describe-prefix-lists \
        --filters "Name=prefix-list-name,Values=com.amazonaws.${REGION}.s3" --query 'PrefixLists[0].PrefixListId')"
    [[ -n "${s3_prefix_list}" ]] || die "no S3 prefix list in ${REGION}"

    RULES_ADDED=0
    allow egress "${SG_VPC_LINK}" "${LISTENER_PORT}" "${SG_ALB}" "to the ALB listener"
    allow ingress "${SG_ALB}" "${LISTENER_PORT}" "${SG_VPC_LINK}" "from the API Gateway VPC link"
    allow egress "${SG_ALB}" "${CONTAINER_PORT}" "${SG_TASKS}" "to the tasks"
    allow ingress "${SG_TASKS}" "${CONTAINER_PORT}" "${SG_ALB}" "from the ALB"
    allow egress "${SG_TASKS}" 443 "${SG_ENDPOINTS}" "to the interface endpoints"
    allow egress "${SG_TASKS}" 443 "${s3_prefix_list}" "to S3 (image layers) through the gateway endpoint"
    allow ingress "${SG_ENDPOINTS}" 443 "${VPC_CIDR}" "HTTPS from inside the VPC"
    did ensured "rules (${RULES_ADDED} added): vpc-link->alb:${LISTENER_PORT}, alb->tasks:${CONTAINER_PORT}, tasks->endpoints:443, tasks->s3:443"
}

ensure_endpoints() {
    step "VPC endpoints (S3 gateway; ecr.api, ecr.dkr, logs, bedrock-runtime with private DNS)"
    local existing="[]" service full id
    if ! is_planned "${VPC_ID}"; then
        existing="$(aws_read ec2 describe-vpc-endpoints --filters "Name=vpc-id,Values=${VPC_ID}" \
            "Name=vpc-endpoint-state,Values=pendingAcceptance,pending,available" --query VpcEndpoints)"
    fi
    for service in s3 "${INTERFACE_ENDPOINT_SERVICES[@]}"; do
        full="com.amazonaws.${REGION}.${service}"
        id="$(jq -r --arg s "${full}" '[.[] | select(.ServiceName == $s)][0].VpcEndpointId // empty' <<<"${existing}")"
        if [[ -n "${id}" ]]; then
            did reused "endpoint ${service} ${id}"
        elif [[ "${service}" == s3 ]]; then
            create_or_plan "gateway endpoint ${service}" ec2 create-vpc-endpoint --vpc-id "${VPC_ID}" \
                --vpc-endpoint-type Gateway --service-name "${full}" --route-table-ids "${ROUTE_TABLE_ID}" \
                --tag-specifications "$(tag_spec vpc-endpoint "${STACK}-${service}")" \
                --query VpcEndpoint.VpcEndpointId >/dev/null
        else
            create_or_plan "interface endpoint ${service}" ec2 create-vpc-endpoint --vpc-id "${VPC_ID}" \
                --vpc-endpoint-type Interface --service-name "${full}" --subnet-ids "${SUBNET_IDS[@]}" \
                --security-group-ids "${SG_ENDPOINTS}" --private-dns-enabled \
                --tag-specifications "$(tag_spec vpc-endpoint "${STACK}-${service}")" \
                --query VpcEndpoint.VpcEndpointId >/dev/null
        fi
    done
}
