# Sourced by scripts/demo and scripts/test: `ensure_venv [EXTRAS]` creates .venv and installs MicroGPT into it
# with those extras (default `all`: every tier; `dev` adds the test tools), again only when pyproject.toml changes.
# A plain `pip install microgpt` is the nano-only install; the scripts install everything.
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
  export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
}
