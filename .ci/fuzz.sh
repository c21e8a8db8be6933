#!/usr/bin/env bash
# Runs every fuzz target for a short, bounded time, one after the other, and
# fails on the first failure. The targets are listed explicitly; the script
# also fails when a "func Fuzz" exists that the list does not name, so a new
# decoder's fuzzer cannot be forgotten here.
#
#   FUZZTIME   time per target (default 8s; 13 targets stay under 2.5 minutes
#              with the instrumented builds)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
fuzztime="${FUZZTIME:-8s}"

# package target
targets=(
	"./config FuzzParse"                               # configuration parsing
	"./event FuzzDecode"                               # event decoder
	"./event FuzzSkim"                                 # event decoder for sinks that check JSON
	"./event FuzzTimestamp"                            # @timestamp parsing
	"./event FuzzIndexTemplate"                        # index name template
	"./event FuzzTextTemplate"                         # HEC metadata template
	"./event FuzzField"                                # dotted field lookup
	"./sinks/elasticsearch FuzzParseBulkResponse"      # _bulk response parser
	"./sinks/elasticsearch FuzzDataStreamName"         # data stream names from event fields
	"./internal/fake/filterpath FuzzAppend"            # filter_path response filtering
	"./internal/fake/bulkrecv FuzzFilterPlan"          # bulkrecv's filter_path plans
	"./sinks/splunkhec FuzzClassify"                   # HEC answer classification
	"./sinks/splunkhec FuzzAckAnswer"                  # HEC /ack answer classification
	"./kafka FuzzSCRAMServer"                          # SCRAM exchange (our checks around xdg-go/scram)
	"./event FuzzAppendHeaders"                        # Kafka headers into the event document
	"./internal/fake/kafkatest FuzzParseOAuthBearer"   # OAUTHBEARER client message in the fake broker
	"./internal/fake/syslogfake FuzzParseMessage"      # syslog message parser
	"./internal/fake/syslogfake FuzzReadFrame"         # syslog octet-counted framing
	"./internal/fake/syslogfake FuzzReadLine"          # syslog newline framing
	"./internal/fake/syslogfake FuzzParseRFC3164"      # RFC 3164 message parser
	"./internal/fake/syslogfake FuzzParseLEEF"         # LEEF 2.0 parser
	"./internal/fake/syslogfake FuzzReadRELPFrame"     # RELP frames, server side
	"./sinks/syslog FuzzRELPResponse"                  # RELP frames and responses, client side
	"./sinks/syslog FuzzLEEFRoundTrip"                 # LEEF encoder against the strict parser
	"./filter FuzzAccepts"                             # route filter on hostile documents
	"./filter FuzzExpr"                                # filter expressions: compile and evaluate
	"./internal/text FuzzTruncate"                     # truncation at rune boundaries
	"./internal/text FuzzAppendJSONString"             # JSON string escaping
	"./export FuzzECSValues"                           # export's one-pass ECS column reader
	"./internal/gen FuzzSeq"                           # sequence number reader
	"./shape FuzzShape"                                # field shaping on hostile documents
	"./budget FuzzDecodeEntry"                         # budget ledger records from the shared topic
)

# Every fuzz target in the tree must be listed above.
missing=0
while IFS= read -r line; do
	file="${line%%:*}"
	name="$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*)\(.*$/\1/' <<<"$line")"
	pkg="./$(dirname "${file#./}")"
	found=0
	for t in "${targets[@]}"; do
		if [[ "$t" == "$pkg $name" ]]; then
			found=1
			break
		fi
	done
	if [[ $found == 0 ]]; then
		echo "fuzz.sh: $pkg $name is not listed in .ci/fuzz.sh" >&2
		missing=1
	fi
done < <(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '^./vendor/')
if [[ $missing != 0 ]]; then
	exit 1
fi

# corpus_files lists a target's saved failing inputs, if any.
corpus_files() {
	ls "$1/testdata/fuzz/$2" 2>/dev/null | sort || true
}

# Go 1.26's fuzz coordinator can report "context deadline exceeded" when
# -fuzztime ends while a worker is mid-call, without any failing input
# (golang/go#75804, fixed in Go 1.27). A real failure always saves its input
# under testdata/fuzz/<target>/. So a run that failed with only that message
# and saved nothing is run again, at most twice; anything else fails.
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
start=$SECONDS
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	for attempt in 1 2 3; do
		echo "== fuzz $pkg $name ($fuzztime)"
		before="$(corpus_files "$pkg" "$name")"
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$out"; then
			break
		fi
		after="$(corpus_files "$pkg" "$name")"
		if [[ "$before" == "$after" && $attempt -lt 3 ]] &&
			grep -qx '    context deadline exceeded' "$out" &&
			! grep -qE '^\s+(panic|Error|.*_test\.go:[0-9]+:)' "$out"; then
			echo "fuzz.sh: $pkg $name stopped with the fuzztime deadline race (golang/go#75804) and saved no input; running it again" >&2
			continue
		fi
		echo "fuzz.sh: $pkg $name FAILED; a failing input, if any, is under $pkg/testdata/fuzz/$name/" >&2
		exit 1
	done
done
echo "== fuzz: ${#targets[@]} targets passed in $((SECONDS - start))s"
