# Sourced by ci/package/run.sh and bench.sh: the local registry's answers, read with Node's
# fetch (no curl needed), from the registry at $REG.
# shellcheck shell=bash
ping() { node -e 'fetch(process.argv[1] + "-/ping").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$REG"; }
add_user() { # name password: prints the token of a new registry user
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e '
    const [reg, name, password] = process.argv.slice(1);
    fetch(`${reg}-/user/org.couchdb.user:${name}`, { method: "PUT", headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, password }) })
      .then((r) => r.json()).then((j) => console.log(j.token));
  ' "$REG" "$1" "$2"
}
