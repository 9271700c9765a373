//go:build tools

// Package tools pins the modules that helpers build against until each is imported for real.
package tools

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/hashicorp/go-hclog"
	_ "github.com/hashicorp/go-plugin"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/vbauerster/mpb/v8"
	_ "golang.org/x/image/draw"
	_ "gonum.org/v1/plot"
	_ "google.golang.org/grpc"
)
