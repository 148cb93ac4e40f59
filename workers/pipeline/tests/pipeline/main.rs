//! Integration tests of the pipeline against real parts: RabbitMQ on 127.0.0.1:5672, a Garage
//! store started by `scripts/s3-server.sh`, the API in-process on a free port, a real HTTP
//! receiver, and `photocheck worker` processes. Every test uses fresh queue, exchange and bucket
//! names and removes them afterwards.

mod harness;
mod pki;

mod api;
mod broker_blocked;
mod console;
mod console_browser;
mod dead_letter;
mod end_to_end;
mod failover;
mod fix;
mod idempotency;
mod listing;
mod outages;
mod parking;
mod retention;
mod submit_client;
mod tls;
