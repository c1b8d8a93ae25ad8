//! The RabbitMQ harness the AMQP tests build on: a node of the test's own
//! starts on free loopback ports, restarts on the same ports, and leaves
//! nothing listening once dropped.

#[allow(dead_code)] // not every test uses every helper
#[path = "support/rabbitmq.rs"]
mod rabbitmq;

use std::net::TcpStream;

use rabbitmq::RabbitServer;

#[test]
fn a_node_starts_restarts_and_is_gone_when_dropped() {
    let mut server = RabbitServer::start();
    let port = server.port;
    assert!(server.answers(), "AMQP answers on {port}");
    assert!(server.url().starts_with("amqp://guest:guest@127.0.0.1:"));
    server.stop();
    assert!(!server.answers(), "stopped");
    server.restart();
    assert!(server.answers(), "answers again after a restart");
    drop(server);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on {port}"
    );
}
