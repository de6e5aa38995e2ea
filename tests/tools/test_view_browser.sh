#!/bin/sh
# test_view_browser.sh WEFT WORKDIR — `weft view --html` in a real browser: headless Chromium
# loads the page from a file:// URL with every network path closed, runs its script, and prints
# the DOM; every span of the trace must be drawn as a row (data-span-id), the count the page
# reports must match, the details panel must be filled, and a span text holding "</script>"
# must not have broken out of the data block. Exits 77 (skipped) only when chromium is absent.
set -eu
weft=$1
work=$2
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIP: chromium is not installed (setup.sh installs it; apt-get install chromium)"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"

# 250 spans of one trace: a root, 49 children, 4 grandchildren under each; span 7 failed;
# span 3's output holds a closing script tag and markup.
awk -v n=250 'function ts(us) { return sprintf("2025-01-01T00:00:%02d.%06dZ", int(us / 1000000), us % 1000000) }
BEGIN {
  for (i = 0; i < n; i++) {
    if (i == 0) { parent = ""; s = 0; e = n * 1000 }
    else if (i < 50) { parent = "\"parent_id\":\"span-0\","; s = i * 4000; e = s + 3000 }
    else { p = int((i - 50) / 4) + 1; parent = sprintf("\"parent_id\":\"span-%d\",", p); s = p * 4000 + (i % 4) * 500; e = s + 400 }
    status = (i == 7) ? "ERROR" : "SUCCESS"
    out = (i == 3) ? "{\"answer\":\"</script><b id=\\\"injected\\\">x</b>\"}" : "{\"answer\":\"ok\"}"
    printf("{\"id\":\"span-%d\",\"trace_id\":\"trace-browser\",%s\"name\":\"step %d\",\"type\":\"%s\",\"status\":\"%s\",\"start_timestamp\":\"%s\",\"end_timestamp\":\"%s\",\"input\":{\"q\":\"question %d\"},\"output\":%s,\"metadata\":{\"input_tokens\":%d,\"output_tokens\":3}}\n",
           i, parent, i, (i % 3 == 0) ? "COMPLETION" : "CUSTOM", status, ts(s), ts(e), i, out, i)
  }
}' > "$work/trace.jsonl"

"$weft" view "$work/trace.jsonl" --html "$work/trace.html"

HOME=$work timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
  --user-data-dir="$work/profile" --disable-background-networking --disable-component-update \
  --disable-sync --no-pings --disable-domain-reliability --proxy-server=127.0.0.1:9 \
  --host-resolver-rules="MAP * ~NOTFOUND" \
  --dump-dom "file://$work/trace.html" > "$work/dom.html" 2> "$work/chromium.log" || {
  echo "chromium failed:"; tail -n 20 "$work/chromium.log"; exit 1; }

fail=0
rendered=$(grep -o 'data-rendered="[0-9]*"' "$work/dom.html" | grep -o '[0-9][0-9]*' || true)
if [ "$rendered" != 250 ]; then
  echo "the page reports ${rendered:-no} rows drawn, want 250"; fail=1
fi
sed -n 's/.*"id":"\(span-[0-9]*\)".*/\1/p' "$work/trace.jsonl" | sort > "$work/want.txt"
grep -o 'data-span-id="[^"]*"' "$work/dom.html" | sed 's/data-span-id="\(.*\)"/\1/' | sort > "$work/drawn.txt"
if ! cmp -s "$work/want.txt" "$work/drawn.txt"; then
  echo "the rows drawn are not the trace's spans:"; diff "$work/want.txt" "$work/drawn.txt" | head; fail=1
fi
if ! grep -q '<aside id="details"><h2>step 0</h2>' "$work/dom.html"; then
  echo "the details panel does not show the root span"; fail=1
fi
if grep -q '<b id="injected">' "$work/dom.html"; then
  echo "span text broke out of the data block"; fail=1
fi
if ! grep -q 'class="row error' "$work/dom.html"; then
  echo "the failed span is not marked"; fail=1
fi
# OUT.html#span=ID opens with that span's details.
HOME=$work timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
  --user-data-dir="$work/profile" --disable-background-networking --disable-component-update \
  --disable-sync --no-pings --disable-domain-reliability --proxy-server=127.0.0.1:9 \
  --host-resolver-rules="MAP * ~NOTFOUND" \
  --dump-dom "file://$work/trace.html#span=span-7" > "$work/dom7.html" 2>> "$work/chromium.log" || true
if ! grep -q '<aside id="details"><h2>step 7</h2>' "$work/dom7.html"; then
  echo "#span=span-7 does not open span 7's details"; fail=1
fi
[ $fail -eq 0 ] && echo "view_browser: all $rendered spans drawn in $($browser --version 2>/dev/null | head -n 1)"
exit $fail
