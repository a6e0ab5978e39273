package model

import "errors"

// ErrIllegalTransition is what every *TransitionError is: a state change the
// thing's machine does not allow from the state it is in.
var ErrIllegalTransition = errors.New("illegal state transition")

// Unwrap makes errors.Is(err, ErrIllegalTransition) hold for every
// transition error.
func (e *TransitionError) Unwrap() error { return ErrIllegalTransition }
