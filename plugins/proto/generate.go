package proto

// Regenerate after editing conversa.proto (protoc 3.21, protoc-gen-go
// v1.36, protoc-gen-go-grpc 1.6):
//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative conversa.proto
