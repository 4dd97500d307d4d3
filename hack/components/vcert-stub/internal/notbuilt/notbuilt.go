// Package notbuilt holds the error that every function of the vcert stand-in
// returns.
package notbuilt

import "errors"

// Err is returned by every operation of the stand-in.
var Err = errors.New("venafi issuer is not built into certwave's controller: " +
	"github.com/Venafi/vcert/v5 is replaced by a compile-only stub; use an ACME, CA or selfSigned issuer")
