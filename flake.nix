{
  description = "bedrock-sse: Amazon Bedrock ConverseStream as Server-Sent Events, with axum and warp example servers";

  # Nix >= 2.18 with flakes enabled. Without a flake.lock, the first
  # `nix build` resolves these inputs and writes one: commit it to pin them.
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

    crane.url = "github:ipetkov/crane";

    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs = { self, nixpkgs, crane, rust-overlay }:
    let
      inherit (nixpkgs) lib;

      systems = [ "x86_64-linux" "aarch64-linux" ];

      cargoToml = lib.importTOML ./Cargo.toml;
      inherit (cargoToml.package) version;

      # The toolchain is the crate's minimum supported Rust version, read from
      # Cargo.toml, so `rust-version`, the Nix builds and the dev shell agree.
      # rust-overlay names stable releases by their full version ("1.94.1").
      rustVersion = cargoToml.package.rust-version;

      # Git revision for the image label: clean tree, dirty tree, or unknown.
      revision = self.rev or self.dirtyRev or null;

      # Image creation time: the last commit's time, so the image stays
      # reproducible yet does not claim to be from 1970.
      created =
        let
          d = self.lastModifiedDate or "19700101000001";
          part = start: len: builtins.substring start len d;
        in
        "${part 0 4}-${part 4 2}-${part 6 2}T${part 8 2}:${part 10 2}:${part 12 2}Z";

      # Image architecture in the OCI/Go spelling, matching the build system.
      imageArch = {
        x86_64-linux = "amd64";
        aarch64-linux = "arm64";
      };

      # The two example servers and their Nix package names.
      servers = [ "axum-server" "warp-server" ];

      perSystem = system:
        let
          pkgs = import nixpkgs {
            inherit system;
            overlays = [ (import rust-overlay) ];
          };

          rustToolchain = p: p.rust-bin.stable.${rustVersion}.default;

          craneLib = (crane.mkLib pkgs).overrideToolchain rustToolchain;

          # Only what cargo needs: manifests, Rust sources and the non-Rust
          # files embedded with include_str! (the chat page under src/server/,
          # README.md for the crate docs). Whole directories are kept so a new
          # embedded asset needs no change here; infra/, .ci/ and the Nix
          # files stay out, so editing them rebuilds nothing.
          src = lib.fileset.toSource {
            root = ./.;
            fileset = lib.fileset.unions ([
              ./Cargo.toml
              ./Cargo.lock
              ./src
              ./examples
            ] ++ map lib.fileset.maybeMissing [
              ./README.md
              ./benches
              ./tests
              ./build.rs
              ./.cargo
              ./.config
              ./rustfmt.toml
              ./.rustfmt.toml
              ./clippy.toml
              ./.clippy.toml
            ]);
          };

          # `server` implies `mock`, so --all-features is the feature set of
          # the example builds too: every derivation below shares one
          # dependency build.
          commonArgs = {
            inherit src version;
            pname = cargoToml.package.name;
            strictDeps = true;
            cargoExtraArgs = "--locked --all-features";
          };

          cargoArtifacts = craneLib.buildDepsOnly commonArgs;

          # crane installs what its build log reports; an example binary is
          # installed explicitly instead, so the output is exactly bin/<name>.
          mkServer = name: craneLib.buildPackage (commonArgs // {
            inherit cargoArtifacts;
            pname = name;
            cargoExtraArgs = "--locked --features server --example ${name}";
            # The test suite runs once, in checks.tests.
            doCheck = false;
            doNotPostBuildInstallCargoBinaries = true;
            installPhaseCommand = ''
              install -Dm755 "''${CARGO_TARGET_DIR:-target}/release/examples/${name}" "$out/bin/${name}"
            '';
            meta = {
              description = "bedrock-sse ${name} example server";
              mainProgram = name;
            };
          });

          serverPkgs = lib.genAttrs servers mkServer;

          # A minimal image: the server, its runtime closure (glibc, libgcc)
          # and the CA bundle. No shell, no coreutils. /bin/<name> is the only
          # path in the image root, so the ECS health check can run
          # ["CMD", "/bin/<name>", "healthcheck"].
          mkImage = name:
            let
              server = serverPkgs.${name};
              exe = "/bin/${name}";
            in
            pkgs.dockerTools.buildLayeredImage {
              name = "bedrock-sse-${name}";
              tag = version;
              inherit created;
              architecture = imageArch.${system};
              contents = [ server ];
              config = {
                Entrypoint = [ exe ];
                User = "65532:65532";
                ExposedPorts = { "8080/tcp" = { }; };
                Env = [
                  "HOST=0.0.0.0"
                  "PORT=8080"
                  "SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"
                ];
                # Honoured by `docker run`; ECS uses the task definition's own.
                Healthcheck = {
                  Test = [ "CMD" exe "healthcheck" ];
                  Interval = 30000000000; # nanoseconds: 30 s
                  Timeout = 5000000000;
                  StartPeriod = 5000000000;
                  Retries = 3;
                };
                Labels = {
                  "org.opencontainers.image.title" = "bedrock-sse-${name}";
                  "org.opencontainers.image.description" = cargoToml.package.description;
                  "org.opencontainers.image.source" = cargoToml.package.repository;
                  "org.opencontainers.image.version" = version;
                  "org.opencontainers.image.licenses" = cargoToml.package.license;
                } // lib.optionalAttrs (revision != null) {
                  "org.opencontainers.image.revision" = revision;
                };
              };
            };

          # Starts the server on the mock backend inside the build sandbox
          # (loopback only) and waits for its own `healthcheck` to pass: the
          # command the container health check runs.
          mkHealthcheckTest = name:
            let
              exe = lib.getExe serverPkgs.${name};
            in
            pkgs.runCommand "${name}-healthcheck" { } ''
              export HOST=127.0.0.1 PORT=18080
              export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
              export AWS_EC2_METADATA_DISABLED=true
              ${exe} --mock &
              pid=$!
              trap 'kill $pid 2>/dev/null || true' EXIT
              for _ in $(seq 1 100); do
                if ${exe} healthcheck; then
                  touch $out
                  exit 0
                fi
                sleep 0.2
              done
              echo "${name} did not become healthy within 20 s" >&2
              exit 1
            '';

          packages = serverPkgs // {
            default = serverPkgs.axum-server;
            image = mkImage "axum-server";
            image-warp = mkImage "warp-server";
          };

          mkApp = drv: {
            type = "app";
            program = lib.getExe drv;
            meta.description = drv.meta.description;
          };
        in
        {
          inherit packages;

          apps = lib.mapAttrs (_: mkApp) (serverPkgs // {
            default = serverPkgs.axum-server;
          });

          # The same gates as .ci/run.
          checks = serverPkgs // {
            inherit (packages) image image-warp;

            clippy = craneLib.cargoClippy (commonArgs // {
              inherit cargoArtifacts;
              cargoClippyExtraArgs = "--all-targets -- --deny warnings";
            });

            fmt = craneLib.cargoFmt {
              inherit src;
            };

            # cargo test (not nextest) so the README doctests run too.
            tests = craneLib.cargoTest (commonArgs // {
              inherit cargoArtifacts;
            });

            doc = craneLib.cargoDoc (commonArgs // {
              inherit cargoArtifacts;
              env.RUSTDOCFLAGS = "--deny warnings";
            });

            axum-server-healthcheck = mkHealthcheckTest "axum-server";
            warp-server-healthcheck = mkHealthcheckTest "warp-server";
          };

          devShells.default =
            let
              devToolchain = p: (rustToolchain p).override {
                extensions = [ "rust-src" "rust-analyzer" ];
              };
            in
            (craneLib.overrideToolchain devToolchain).devShell {
              packages = [
                pkgs.cargo-nextest
                pkgs.awscli2
                pkgs.jq
                pkgs.shellcheck
                pkgs.skopeo
                pkgs.nixpkgs-fmt
                pkgs.deadnix
              ];
            };

          formatter = pkgs.nixpkgs-fmt;
        };

      bySystem = lib.genAttrs systems perSystem;
      output = attr: lib.mapAttrs (_: systemOutputs: systemOutputs.${attr}) bySystem;
    in
    {
      packages = output "packages";
      apps = output "apps";
      checks = output "checks";
      devShells = output "devShells";
      formatter = output "formatter";
    };
}
