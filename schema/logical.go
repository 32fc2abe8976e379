package schema

import (
	"math/big"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// unavailableText is PostgreSQL's TOAST placeholder as Debezium sends it.
const unavailableText = "__debezium_unavailable_value"

// The range of time.Time values we produce: year 0 to year 9999. Values
// outside it are PostgreSQL's ±infinity sentinels (or garbage) and are kept
// as the raw integer Debezium sent, so nothing downstream sees a fake date.
const (
	minUnixSec = -62167219200 // 0000-01-01T00:00:00Z
	maxUnixSec = 253402300799 // 9999-12-31T23:59:59Z
)

// convertInt applies n's logical conversion to an integer. Out-of-range
// timestamps and dates stay as the raw integer (see Row).
func convertInt(n *node, v int64) any {
	switch n.conv {
	case convDate:
		if v < minUnixSec/86400 || v > maxUnixSec/86400 {
			return rawInt(n, v)
		}
		return DateOf(v)
	case convTimeMillis:
		return TimeOfDay(v * int64(time.Millisecond))
	case convTimeMicros:
		return TimeOfDay(v * int64(time.Microsecond))
	case convTimeNanos:
		return TimeOfDay(v)
	case convTsMillis:
		if v < minUnixSec*1000 || v > maxUnixSec*1000+999 {
			return rawInt(n, v)
		}
		return time.UnixMilli(v).UTC()
	case convTsMicros:
		if v < minUnixSec*1000000 || v > maxUnixSec*1000000+999999 {
			return rawInt(n, v)
		}
		return time.UnixMicro(v).UTC()
	case convTsNanos:
		return time.Unix(0, v).UTC()
	}
	return rawInt(n, v)
}

func rawInt(n *node, v int64) any {
	if n.kind == kInt {
		return int32(v)
	}
	return v
}

// convertString applies n's logical conversion to text.
func convertString(n *node, s string) (any, error) {
	if s == unavailableText {
		return Unavailable{}, nil
	}
	switch n.conv {
	case convZonedTs:
		return parseZonedTimestamp(s)
	case convZonedTime:
		return parseZonedTime(s)
	case convJSON:
		return JSON(s), nil
	case convEnumSet:
		if s == "" {
			return []string{}, nil
		}
		return strings.Split(s, ","), nil
	}
	return s, nil
}

// convertBytes applies n's logical conversion to bytes. b may alias the
// input: plain bytes are copied.
func convertBytes(n *node, b []byte) (any, error) {
	if len(b) == len(unavailableText) && string(b) == unavailableText {
		return Unavailable{}, nil
	}
	switch n.conv {
	case convDecimal:
		return Decimal{Unscaled: twosComplement(b), Scale: n.scale}, nil
	case convBits:
		if n.bit {
			return len(b) > 0 && b[0]&1 == 1, nil
		}
	}
	return append([]byte{}, b...), nil
}

type smallInt struct {
	i big.Int
	w [1]big.Word
}

// twosComplement reads a big-endian two's-complement integer of any length.
func twosComplement(b []byte) *big.Int {
	if len(b) == 0 {
		return new(big.Int)
	}
	if len(b) <= 8 && bits.UintSize == 64 {
		var v int64
		if b[0]&0x80 != 0 {
			v = -1
		}
		for _, c := range b {
			v = v<<8 | int64(c)
		}
		// One allocation for the Int and its single word.
		box := new(smallInt)
		neg := v < 0
		if neg {
			box.w[0] = big.Word(-uint64(v))
		} else {
			box.w[0] = big.Word(v)
		}
		box.i.SetBits(box.w[:])
		if neg {
			box.i.Neg(&box.i)
		}
		return &box.i
	}
	i := new(big.Int)
	i.SetBytes(b)
	if b[0]&0x80 != 0 {
		i.Sub(i, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return i
}

// varDecimal turns io.debezium.data.VariableScaleDecimal {scale, value} into
// a Decimal.
func varDecimal(row Row) (any, error) {
	var scale int64
	switch s := row["scale"].(type) {
	case int32:
		scale = int64(s)
	case int64:
		scale = s
	default:
		return nil, errf("VariableScaleDecimal without an integer scale")
	}
	if scale < -1000 || scale > 1000 {
		return nil, errf("VariableScaleDecimal scale " + strconv.FormatInt(scale, 10) + " out of range")
	}
	switch v := row["value"].(type) {
	case []byte:
		return Decimal{Unscaled: twosComplement(v), Scale: int32(scale)}, nil
	case Unavailable:
		return v, nil
	}
	return nil, errf("VariableScaleDecimal without bytes value")
}

// parseZonedTimestamp reads io.debezium.time.ZonedTimestamp (ISO 8601 with an
// offset). PostgreSQL's "infinity" and "-infinity" are kept as text.
func parseZonedTimestamp(s string) (any, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if s == "infinity" || s == "-infinity" {
			return s, nil
		}
		// Debezium pads some offsets without a colon ("+0530") in old versions.
		if t2, err2 := time.Parse("2006-01-02T15:04:05.999999999Z0700", s); err2 == nil {
			return t2.UTC(), nil
		}
		return nil, errf("ZonedTimestamp " + strconv.Quote(truncate(s)) + " is not ISO 8601 with an offset")
	}
	return t.UTC(), nil
}

// parseZonedTime reads io.debezium.time.ZonedTime ("10:15:30.5+01:00",
// "10:15:30Z") into the time of day in UTC.
func parseZonedTime(s string) (any, error) {
	for _, layout := range []string{"15:04:05.999999999Z07:00", "15:04:05.999999999Z0700", "15:04:05.999999999Z07"} {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		_, off := t.Zone()
		d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
			time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond()) -
			time.Duration(off)*time.Second
		d %= 24 * time.Hour
		if d < 0 {
			d += 24 * time.Hour
		}
		return TimeOfDay(d), nil
	}
	return nil, errf("ZonedTime " + strconv.Quote(truncate(s)) + " is not an ISO 8601 time with an offset")
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// parseDecimalLiteral reads a JSON number literal exactly ("12.50",
// "-1e-3", "4E+2") into a Decimal; a positive exponent is folded into the
// unscaled value so the scale is never negative.
func parseDecimalLiteral(s string) (Decimal, bool) {
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(s[i+1:], 10, 32)
		if err != nil || e > 10000 || e < -10000 {
			return Decimal{}, false
		}
		mant, exp = s[:i], e
	}
	scale := int64(0)
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		scale = int64(len(mant) - i - 1)
		mant = mant[:i] + mant[i+1:]
	}
	if mant == "" || mant == "-" || mant == "+" {
		return Decimal{}, false
	}
	u, ok := new(big.Int).SetString(mant, 10)
	if !ok {
		return Decimal{}, false
	}
	scale -= exp
	if scale < 0 {
		u.Mul(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(-scale), nil))
		scale = 0
	}
	if scale > 10000 {
		return Decimal{}, false
	}
	return Decimal{Unscaled: u, Scale: int32(scale)}, true
}

// rescale returns d at scale s when that is exact.
func rescale(d Decimal, s int32) (Decimal, bool) {
	if d.Scale == s {
		return d, true
	}
	u := new(big.Int).Set(d.Unscaled)
	if s > d.Scale {
		u.Mul(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s-d.Scale)), nil))
		return Decimal{Unscaled: u, Scale: s}, true
	}
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale-s)), nil)
	q, m := new(big.Int).QuoRem(u, p, new(big.Int))
	if m.Sign() != 0 {
		return d, false
	}
	return Decimal{Unscaled: q, Scale: s}, true
}
