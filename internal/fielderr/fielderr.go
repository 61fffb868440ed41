// Package fielderr is the error every settings type returns for a bad
// setting: it names the Go field, so that each front end (a flag, a plan
// key, an exporter module key) can say it in its own spelling.
package fielderr

import (
	"errors"
	"fmt"
)

// Error is an invalid setting. Field is the Go field's name
// ("PasswordFile", "Mech").
type Error struct {
	Field string
	Err   error
}

func (e *Error) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// Spell rewrites an *Error in err with the front end's own name for the
// field (spelling maps Go field names to flags or file keys); other
// errors, and fields spelling does not name, are returned as they are.
func Spell(err error, spelling map[string]string) error {
	var fe *Error
	if errors.As(err, &fe) {
		if name, ok := spelling[fe.Field]; ok {
			return fmt.Errorf("%s: %w", name, fe.Err)
		}
	}
	return err
}
