package scripting

import (
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// Lua's concatenation operator is one VM instruction (OP_CONCAT) that joins
// all its operands at once, in Go, with no limit: s..s..s of 1 MiB strings
// builds 3 MiB before the call's deadline is looked at again, and a loop of
// s = s..s reaches a gigabyte in ten steps. gopher-lua offers no hook into
// that instruction, so scripts never get to run it: compile rewrites every
// a .. b .. c into a call of a Go function (concatGlobal) that checks the
// result's size before building it and charges the call's allocation
// budget, and a compiled script with an OP_CONCAT left in it is refused.

// concatGlobal names the guarded concatenation among the safe globals. It is
// not a Lua identifier, so no script names it by accident; a script that
// replaces it in its own environment gains nothing, since every '..' of the
// replacement calls the replacement again.
const concatGlobal = "conversa concat"

// guardConcat rewrites every concatenation in stmts into a call of
// concatGlobal, in place.
func guardConcat(stmts []ast.Stmt) {
	for _, st := range stmts {
		guardStmt(st)
	}
}

func guardStmt(st ast.Stmt) {
	switch s := st.(type) {
	case *ast.AssignStmt:
		guardExprs(s.Lhs)
		guardExprs(s.Rhs)
	case *ast.LocalAssignStmt:
		guardExprs(s.Exprs)
	case *ast.FuncCallStmt:
		s.Expr = guardExpr(s.Expr)
	case *ast.DoBlockStmt:
		guardConcat(s.Stmts)
	case *ast.WhileStmt:
		s.Condition = guardExpr(s.Condition)
		guardConcat(s.Stmts)
	case *ast.RepeatStmt:
		s.Condition = guardExpr(s.Condition)
		guardConcat(s.Stmts)
	case *ast.IfStmt:
		s.Condition = guardExpr(s.Condition)
		guardConcat(s.Then)
		guardConcat(s.Else)
	case *ast.NumberForStmt:
		s.Init, s.Limit = guardExpr(s.Init), guardExpr(s.Limit)
		if s.Step != nil {
			s.Step = guardExpr(s.Step)
		}
		guardConcat(s.Stmts)
	case *ast.GenericForStmt:
		guardExprs(s.Exprs)
		guardConcat(s.Stmts)
	case *ast.FuncDefStmt:
		if s.Name != nil {
			if s.Name.Func != nil {
				s.Name.Func = guardExpr(s.Name.Func)
			}
			if s.Name.Receiver != nil {
				s.Name.Receiver = guardExpr(s.Name.Receiver)
			}
		}
		guardExpr(s.Func)
	case *ast.ReturnStmt:
		guardExprs(s.Exprs)
	}
	// BreakStmt, LabelStmt and GotoStmt hold no expression. Should the
	// parser grow a statement this misses, the compiled code keeps its
	// OP_CONCAT and the script is refused (see unguardedConcat).
}

func guardExprs(es []ast.Expr) {
	for i := range es {
		es[i] = guardExpr(es[i])
	}
}

// guardExpr returns e with its concatenations guarded.
func guardExpr(e ast.Expr) ast.Expr {
	switch x := e.(type) {
	case *ast.StringConcatOpExpr:
		// a .. b .. c parses as a .. (b .. c); the VM joins that right-hand
		// chain in one instruction, and so does one guarded call.
		var args []ast.Expr
		cur := ast.Expr(x)
		for {
			c, ok := cur.(*ast.StringConcatOpExpr)
			if !ok {
				args = append(args, guardExpr(cur))
				break
			}
			args = append(args, guardExpr(c.Lhs))
			cur = c.Rhs
		}
		// Every operand is one value, as in the operator: a call or a
		// vararg as the last argument would otherwise spread all its
		// results into the concatenation.
		switch last := args[len(args)-1].(type) {
		case *ast.FuncCallExpr:
			last.AdjustRet = true
		case *ast.Comma3Expr:
			last.AdjustRet = true
		}
		fn := &ast.IdentExpr{Value: concatGlobal}
		fn.SetLine(x.Line())
		fn.SetLastLine(x.LastLine())
		call := &ast.FuncCallExpr{Func: fn, Args: args, AdjustRet: true}
		call.SetLine(x.Line())
		call.SetLastLine(x.LastLine())
		return call
	case *ast.AttrGetExpr:
		x.Object, x.Key = guardExpr(x.Object), guardExpr(x.Key)
	case *ast.TableExpr:
		for _, f := range x.Fields {
			if f.Key != nil {
				f.Key = guardExpr(f.Key)
			}
			f.Value = guardExpr(f.Value)
		}
	case *ast.FuncCallExpr:
		if x.Func != nil {
			x.Func = guardExpr(x.Func)
		}
		if x.Receiver != nil {
			x.Receiver = guardExpr(x.Receiver)
		}
		guardExprs(x.Args)
	case *ast.LogicalOpExpr:
		x.Lhs, x.Rhs = guardExpr(x.Lhs), guardExpr(x.Rhs)
	case *ast.RelationalOpExpr:
		x.Lhs, x.Rhs = guardExpr(x.Lhs), guardExpr(x.Rhs)
	case *ast.ArithmeticOpExpr:
		x.Lhs, x.Rhs = guardExpr(x.Lhs), guardExpr(x.Rhs)
	case *ast.UnaryMinusOpExpr:
		x.Expr = guardExpr(x.Expr)
	case *ast.UnaryNotOpExpr:
		x.Expr = guardExpr(x.Expr)
	case *ast.UnaryLenOpExpr:
		x.Expr = guardExpr(x.Expr)
	case *ast.FunctionExpr:
		guardConcat(x.Stmts)
	}
	return e
}

// unguardedConcat reports whether the compiled proto, or any function in
// it, still holds a concatenation instruction.
func unguardedConcat(p *lua.FunctionProto) bool {
	for _, inst := range p.Code {
		if int(inst>>26) == lua.OP_CONCAT {
			return true
		}
	}
	for _, child := range p.FunctionPrototypes {
		if unguardedConcat(child) {
			return true
		}
	}
	return false
}

// concat is Lua's '..' over its arguments, as the VM runs it (from the
// right: runs of strings and numbers are joined at once, anything else
// through its __concat metamethod), except that no result may exceed
// maxString and each result is charged to the call's budget.
func (s *sandbox) concat(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	rhs := L.Get(n)
	for i := n - 1; i >= 1; {
		lhs := L.Get(i)
		if lua.LVCanConvToString(lhs) && lua.LVCanConvToString(rhs) {
			tail := lua.LVAsString(rhs)
			size := len(tail)
			j := i
			for ; j >= 1 && lua.LVCanConvToString(L.Get(j)); j-- {
				if size += len(lua.LVAsString(L.Get(j))); size > maxString {
					tooLarge(L, "concatenation (..)")
				}
			}
			s.charge(L, size)
			var b strings.Builder
			b.Grow(size)
			for k := j + 1; k <= i; k++ {
				b.WriteString(lua.LVAsString(L.Get(k)))
			}
			b.WriteString(tail)
			rhs = lua.LString(b.String())
			i = j
			continue
		}
		mm := L.GetMetaField(lhs, "__concat")
		if mm == lua.LNil {
			mm = L.GetMetaField(rhs, "__concat")
		}
		if mm.Type() != lua.LTFunction {
			L.RaiseError("cannot perform concat operation between %s and %s", lhs.Type(), rhs.Type())
		}
		L.Push(mm)
		L.Push(lhs)
		L.Push(rhs)
		L.Call(2, 1)
		rhs = L.Get(-1)
		L.Pop(1)
		i--
	}
	L.Push(rhs)
	return 1
}

// maxCallStrings bounds the bytes of strings one hook call may build with
// the string library, table.concat and '..'. Each string is at most
// maxString, but a loop could build a great many of them before its
// deadline; the budget makes such a call fail at once, with its own message.
const maxCallStrings = 8 << 20

// charge counts n bytes against the running call's budget.
func (s *sandbox) charge(L *lua.LState, n int) {
	s.spent += n
	if s.spent > maxCallStrings {
		L.RaiseError("memory limit exceeded: one call may build at most %d MiB of strings", maxCallStrings>>20)
	}
}

// charged wraps a library function that builds strings: whatever strings it
// returns are charged to the call's budget.
func (s *sandbox) charged(f lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		n := f(L)
		for i := 1; i <= n; i++ {
			if str, ok := L.Get(-i).(lua.LString); ok {
				s.charge(L, len(str))
			}
		}
		return n
	}
}

// concatProblem is the refusal of a compiled script that kept an unguarded
// concatenation: a gap in guardConcat, never the operator's doing.
func concatProblem(chunk string) error {
	return &Error{Script: chunk, Message: fmt.Sprintf("internal error: a concatenation in %s escaped its size check", chunk)}
}
