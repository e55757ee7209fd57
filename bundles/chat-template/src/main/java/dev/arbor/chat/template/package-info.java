/** Hugging Face chat templates rendered with HubSpot Jinjava (private: the service is the API's ChatTemplateEngine). */
package dev.arbor.chat.template;
