//! Deuteron's network APIs. `proton`: the Proton-compatible AWS JSON 1.0 endpoint that the AWS
//! CLI, boto3 and aws-sdk-proton talk to; `sigv4`: verification of their signatures.

pub mod openapi;
pub mod proton;
pub mod rest;
pub mod rest_resources;
pub mod rest_rollouts;
pub mod sigv4;
