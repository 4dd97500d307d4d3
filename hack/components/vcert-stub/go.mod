// Compile-only stand-in for github.com/Venafi/vcert/v5, which the Go module
// proxy does not serve. cert-manager's Venafi issuer packages import it, and
// certwave's controller build replaces it with this directory. Every
// function here returns an error, so a Venafi issuer never works in that
// controller.
module github.com/Venafi/vcert/v5

go 1.26.0
