package schema

import (
	"encoding/base64"
	"time"
)

// SchemalessHint says what a value decoded from a topic without schemas
// (JsonConverter with schemas.enable=false) most likely is, when it is one
// of Debezium's encodings that need a schema to be read, and which setting
// makes it readable. It returns "" when it has nothing to say.
//
// Call it when a value does not fit the field it is mapped to (a date,
// datetime or decimal field): without a schema the decoder cannot know that
// 19439 is a DATE (days since 1970) or that "AeJA" is a DECIMAL (base64 of
// its unscaled value), so they arrive as an integer and a string. It looks
// at the value only, so it can be wrong about an ordinary integer or word;
// the text says "looks like". It is cheap and safe for concurrent use.
func SchemalessHint(v any) string {
	const schemas = "set value.converter.schemas.enable=true so that zohosink can read its type"
	switch x := v.(type) {
	case int32:
		return intHint(int64(x), schemas)
	case int64:
		return intHint(x, schemas)
	case Decimal:
		if x.Scale == 0 && x.Unscaled != nil && x.Unscaled.IsInt64() {
			return intHint(x.Unscaled.Int64(), schemas)
		}
	case string:
		if len(x) < 2 || len(x)%4 != 0 {
			return ""
		}
		b, err := base64.StdEncoding.DecodeString(x)
		if err != nil || len(b) == 0 || len(b) > 32 {
			return ""
		}
		u := twosComplement(b)
		return "looks like a Debezium DECIMAL sent as base64 of its unscaled value (" + u.String() +
			" times a power of ten the schema would give) without a schema: set the Debezium connector's " +
			"decimal.handling.mode=string (or double), or " + schemas
	case Row:
		if _, ok := x["scale"]; ok && len(x) == 2 {
			if _, ok := x["value"]; ok {
				return "looks like a Debezium VariableScaleDecimal {scale, value}: set decimal.handling.mode=string, or " + schemas
			}
		}
	}
	return ""
}

func intHint(n int64, schemas string) string {
	abs := n
	if abs < 0 {
		abs = -abs
	}
	switch {
	case n >= -719162 && n <= 2932896: // 0001-01-01 .. 9999-12-31 as days
		return "looks like a Debezium DATE sent as days since 1970-01-01 (" + DateOf(n).String() +
			") without a schema: " + schemas
	case abs >= 1e11 && abs < 1e14:
		return epochHint(time.UnixMilli(n), "milliseconds", schemas)
	case abs >= 1e14 && abs < 1e17:
		return epochHint(time.UnixMicro(n), "microseconds", schemas)
	case abs >= 1e17:
		return epochHint(time.Unix(0, n), "nanoseconds", schemas)
	}
	return ""
}

func epochHint(t time.Time, unit, schemas string) string {
	return "looks like a Debezium timestamp sent as " + unit + " since 1970 (" + t.UTC().Format(time.RFC3339Nano) +
		") without a schema: " + schemas
}
