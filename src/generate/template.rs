//! Chat templates: how a system and a user message become the prompt text a model was tuned on,
//! and which tokens end its turn.
//!
//! GGUF files carry a Jinja `tokenizer.chat_template`; rather than embedding a Jinja engine,
//! the handful of formats sourcier supports are recognised from that template (or, when it is
//! missing, from the special tokens of the vocabulary) and rendered by hand.

/// A supported single-turn chat format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\n...<|im_end|>` (Qwen, many fine-tunes).
    ChatMl,
    /// ChatML plus an empty `<think>` block, which puts Qwen3 in its non-thinking mode.
    ChatMlNoThink,
    /// `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>` (Llama 3).
    Llama3,
    /// `[INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST]` (Llama 2 chat).
    Llama2,
    /// `[INST] ...[/INST]` with the system text folded into the user turn (Mistral).
    Mistral,
    /// `<start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n` (Gemma; no system role).
    Gemma,
}

impl ChatTemplate {
    /// Picks the format from the file's Jinja template when present, else from the vocabulary
    /// (`has_token` says whether a special token exists) and the architecture.
    pub fn detect(architecture: &str, jinja: Option<&str>, has_token: &dyn Fn(&str) -> bool) -> ChatTemplate {
        let no_think = has_token("<think>") && architecture == "qwen3";
        if let Some(j) = jinja {
            if j.contains("<|im_start|>") {
                return if no_think {
                    ChatTemplate::ChatMlNoThink
                } else {
                    ChatTemplate::ChatMl
                };
            }
            if j.contains("<|start_header_id|>") {
                return ChatTemplate::Llama3;
            }
            if j.contains("<start_of_turn>") {
                return ChatTemplate::Gemma;
            }
            if j.contains("<<SYS>>") {
                return ChatTemplate::Llama2;
            }
            if j.contains("[INST]") {
                return ChatTemplate::Mistral;
            }
        }
        match architecture {
            "gemma3" => ChatTemplate::Gemma,
            "qwen3" if no_think => ChatTemplate::ChatMlNoThink,
            _ if has_token("<|im_start|>") => ChatTemplate::ChatMl,
            _ if has_token("<|start_header_id|>") => ChatTemplate::Llama3,
            "llama" => ChatTemplate::Llama2,
            _ => ChatTemplate::ChatMl,
        }
    }

    /// The prompt text, ending where the assistant's answer starts. It never contains the BOS
    /// token: see [`ChatTemplate::needs_bos`].
    pub fn render(self, system: &str, user: &str) -> String {
        let system = system.trim();
        match self {
            ChatTemplate::ChatMl | ChatTemplate::ChatMlNoThink => {
                let mut s = String::new();
                if !system.is_empty() {
                    s.push_str(&format!("<|im_start|>system\n{system}<|im_end|>\n"));
                }
                s.push_str(&format!("<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"));
                if self == ChatTemplate::ChatMlNoThink {
                    s.push_str("<think>\n\n</think>\n\n");
                }
                s
            }
            ChatTemplate::Llama3 => {
                let mut s = String::new();
                if !system.is_empty() {
                    s.push_str(&format!(
                        "<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>"
                    ));
                }
                s.push_str(&format!(
                    "<|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
                ));
                s
            }
            ChatTemplate::Llama2 if !system.is_empty() => {
                format!("[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{} [/INST]", user.trim())
            }
            ChatTemplate::Llama2 => format!("[INST] {} [/INST]", user.trim()),
            ChatTemplate::Mistral => format!("[INST] {}[/INST]", joined(system, user)),
            ChatTemplate::Gemma => {
                format!(
                    "<start_of_turn>user\n{}<end_of_turn>\n<start_of_turn>model\n",
                    joined(system, user)
                )
            }
        }
    }

    /// Whether the BOS token goes before the rendered text (ChatML models have none).
    pub fn needs_bos(self) -> bool {
        !matches!(self, ChatTemplate::ChatMl | ChatTemplate::ChatMlNoThink)
    }

    /// Tokens that end the answer, besides the file's EOS id, when the vocabulary has them.
    pub fn stop_tokens(self) -> &'static [&'static str] {
        match self {
            ChatTemplate::ChatMl | ChatTemplate::ChatMlNoThink => &["<|im_end|>", "<|endoftext|>"],
            ChatTemplate::Llama3 => &["<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"],
            ChatTemplate::Llama2 | ChatTemplate::Mistral => &["</s>"],
            ChatTemplate::Gemma => &["<end_of_turn>", "<eos>"],
        }
    }
}

/// System text folded into the user turn, for formats without a system role.
fn joined(system: &str, user: &str) -> String {
    if system.is_empty() {
        user.trim().to_string()
    } else {
        format!("{system}\n\n{}", user.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_matches_qwen_layout() {
        let p = ChatTemplate::ChatMl.render("Be brief.", "Hi?");
        assert_eq!(
            p,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            ChatTemplate::ChatMl.render("", "Hi?"),
            "<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n"
        );
        assert!(
            ChatTemplate::ChatMlNoThink
                .render("", "Hi?")
                .ends_with("assistant\n<think>\n\n</think>\n\n")
        );
        assert!(!ChatTemplate::ChatMl.needs_bos());
    }

    #[test]
    fn llama_gemma_and_mistral_layouts() {
        assert_eq!(
            ChatTemplate::Llama3.render("S", "U"),
            "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        );
        assert_eq!(
            ChatTemplate::Llama2.render("S", "U"),
            "[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST]"
        );
        assert_eq!(ChatTemplate::Llama2.render("", "U"), "[INST] U [/INST]");
        assert_eq!(ChatTemplate::Mistral.render("S", "U"), "[INST] S\n\nU[/INST]");
        assert_eq!(
            ChatTemplate::Gemma.render("S", "U"),
            "<start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\n"
        );
        assert!(ChatTemplate::Gemma.needs_bos() && ChatTemplate::Llama3.needs_bos());
    }

    #[test]
    fn detection_prefers_the_files_template() {
        let none = |_: &str| false;
        let llama3_vocab = |t: &str| t == "<|start_header_id|>";
        assert_eq!(
            ChatTemplate::detect("qwen2", Some("{{'<|im_start|>'}}"), &none),
            ChatTemplate::ChatMl
        );
        assert_eq!(
            ChatTemplate::detect("llama", Some("<|start_header_id|>"), &none),
            ChatTemplate::Llama3
        );
        assert_eq!(
            ChatTemplate::detect("llama", Some("[INST] <<SYS>>"), &none),
            ChatTemplate::Llama2
        );
        assert_eq!(
            ChatTemplate::detect("llama", Some("[INST]"), &none),
            ChatTemplate::Mistral
        );
        assert_eq!(ChatTemplate::detect("llama", None, &llama3_vocab), ChatTemplate::Llama3);
        assert_eq!(ChatTemplate::detect("llama", None, &none), ChatTemplate::Llama2);
        assert_eq!(ChatTemplate::detect("gemma3", None, &none), ChatTemplate::Gemma);
        assert_eq!(ChatTemplate::detect("qwen2", None, &none), ChatTemplate::ChatMl);
        let think = |t: &str| t == "<think>";
        assert_eq!(
            ChatTemplate::detect("qwen3", Some("<|im_start|>"), &think),
            ChatTemplate::ChatMlNoThink
        );
    }
}
