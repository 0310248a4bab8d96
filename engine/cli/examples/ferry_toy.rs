//! `ferry` with the toy connector (`connectors/toy`) added: the one line a new connector
//! takes. `engine/cli/tests/toy.rs` drives this binary.

use ferry_core::connector::Connector;

static MORE: &[&Connector] = &[&ferry_toy::CONNECTOR];

fn main() {
    ferry_cli::main_with(MORE);
}
