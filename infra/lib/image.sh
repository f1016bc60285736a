# shellcheck shell=bash
# Reading and pushing the image archive that `nix build .#image` leaves at
# ./result: a docker-archive tarball (gzip-compressed or plain).
#
# Only tar, jq and sha256sum are needed to read it; pushing uses skopeo, or
# docker when skopeo is missing and a Docker engine answers.

image_archive_file() {
    # image_archive_file ARCHIVE MEMBER: prints one member of the tarball.
    # GNU tar detects gzip by itself when reading a file.
    tar -xOf "$1" "$2"
}

image_config_path() {
    local manifest
    manifest="$(image_archive_file "$1" manifest.json)" ||
        die "$1 is not a docker-archive (no manifest.json): build it with 'nix build .#image'"
    jq -er 'if length == 1 then .[0].Config else error("expected one image, found \(length)") end' \
        <<<"${manifest}"
}

image_config() {
    # The image's config JSON, exactly as stored (its sha256 is the image id).
    image_archive_file "$1" "$(image_config_path "$1")"
}

image_cpu_architecture() {
    # ECS runtimePlatform.cpuArchitecture for the archive's image.
    local architecture
    architecture="$(image_config "$1" | jq -r '.architecture // empty')"
    case "${architecture}" in
        amd64 | x86_64) echo X86_64 ;;
        arm64 | aarch64) echo ARM64 ;;
        *) die "image $1 has architecture '${architecture:-unknown}': Fargate runs amd64 or arm64 only" ;;
    esac
}

cpu_architecture_of() {
    # Maps a user's --arch value to runtimePlatform.cpuArchitecture.
    case "$1" in
        amd64 | x86_64 | X86_64) echo X86_64 ;;
        arm64 | aarch64 | ARM64) echo ARM64 ;;
        *) die "--arch must be amd64 or arm64, got '$1'" ;;
    esac
}

image_content_tag() {
    # A tag that names the image's content: the digest of its config, which
    # covers every layer's diff id, the architecture and the entrypoint.
    local digest
    digest="$(image_config "$1" | sha256sum | cut -d' ' -f1)"
    echo "sha256-${digest}"
}

is_loopback_registry() {
    [[ "$1" =~ ^(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost)(:[0-9]+)?$ ]]
}

image_push() {
    # image_push ARCHIVE DESTINATION(host/repo:tag) USER PASSWORD
    # Pushes and prints the manifest digest the registry now serves.
    local archive="$1" destination="$2" user="$3" password="$4"
    local registry="${destination%%/*}"
    if command -v skopeo >/dev/null 2>&1; then
        local digest_file plain="" tls_verify=true
        digest_file="$(mktemp)"
        # Some skopeo releases (Debian 12's 1.9) cannot read a gzip-compressed
        # docker-archive, which is what dockerTools writes: hand them plain tar.
        if [[ "$(head -c 2 "${archive}" | od -An -tx1 | tr -d ' ')" == 1f8b ]]; then
            plain="$(mktemp)"
            gzip -dc "${archive}" >"${plain}"
            archive="${plain}"
        fi
        # A loopback registry (the tests' stand-in for ECR) speaks plain HTTP.
        is_loopback_registry "${registry}" && tls_verify=false
        local status=0
        skopeo copy --quiet --format v2s2 --dest-tls-verify="${tls_verify}" \
            --dest-creds "${user}:${password}" --digestfile "${digest_file}" \
            "docker-archive:${archive}" "docker://${destination}" >&2 || status=$?
        [[ -z "${plain}" ]] || rm -f "${plain}"
        if ((status != 0)); then
            rm -f "${digest_file}"
            die "skopeo could not push ${destination} (exit ${status})"
        fi
        cat "${digest_file}"
        rm -f "${digest_file}"
    elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
        local loaded
        loaded="$(docker load --quiet --input "${archive}" | sed -n 's/^Loaded image[^:]*: //p' | tail -n1)"
        [[ -n "${loaded}" ]] || die "docker load did not report an image for ${archive}"
        docker tag "${loaded}" "${destination}"
        printf '%s' "${password}" | docker login --username "${user}" --password-stdin "${registry}" >&2
        docker push --quiet "${destination}" >&2
        docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "${destination}" |
            sed -n "s|^${destination%:*}@||p" | head -n1
    else
        die "pushing ${archive} needs skopeo (or docker with a running engine); install one, or pass --image-uri of an image already pushed"
    fi
}
