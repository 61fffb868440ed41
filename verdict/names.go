package verdict

import "github.com/exauth/exauth/internal/enctype"

// ETypeName is the MIT name of an encryption type, "unknown" for 0.
func ETypeName(id int32) string {
	if id == 0 {
		return "unknown"
	}
	return enctype.Name(id)
}
