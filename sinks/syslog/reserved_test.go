package syslog

import "github.com/siembridge/siembridge/config"

func configCEFReserved() []string  { return config.CEFReservedKeys }
func configLEEFReserved() []string { return config.LEEFReservedKeys }
