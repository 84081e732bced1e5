//! A running LLM server (llama-server, vLLM, TGI, Ollama, SGLang), measured through its
//! OpenAI-compatible streaming API: the continuous-batching step model
//! ([`calibrate::calibrate`]) and open-loop load at chosen send times ([`load::open_loop`]).
//!
//! Tokens are counted by the server (`usage`, or `/tokenize` of the streamed text), never by
//! counting streamed chunks. Prompts are sent as token ids, so their length is exact.

pub mod calibrate;
pub mod client;
pub mod load;
pub mod standin;
