// Package config is zohosink's configuration: the types of the YAML file
// (config.go), loading it (load.go: ${NAME} variables, file: secrets,
// defaults; walk.go: the strict walk of the YAML tree that reports unknown
// keys and values of the wrong kind with their lines), validating it
// (validate.go: every problem at once, each naming the sync and the key),
// printing it without secrets (print.go) and the facts of the Zoho modules
// a sync may write (modules.go). Data centers and edition limits come from
// package zoho.
//
// A Config that Load returned and Validate accepted is what package
// connector runs; nothing else in zohosink reads YAML.
package config
