using System.CommandLine;
using DistributedNN.Security;

namespace DistributedNN.Coordinator.Cli;

/// <summary>`dnn cert`: a self-signed certificate and key for a test cluster's mutual TLS.</summary>
public static class CertCommand
{
    public static Command Create(TextWriter stdout)
    {
        var output = new Option<string>("--out") { Description = "Folder to write NAME.crt and NAME.key into.", DefaultValueFactory = _ => "certs" };
        var name = new Option<string>("--name") { Description = "File name (without extension).", DefaultValueFactory = _ => "cluster" };
        var subject = new Option<string>("--subject") { Description = "The certificate's subject.", DefaultValueFactory = _ => "CN=dnn-cluster" };
        var days = new Option<int>("--days") { Description = "Days the certificate is valid.", DefaultValueFactory = _ => 365 };
        var force = new Option<bool>("--force") { Description = "Replace existing files." };
        var command = new Command("cert", "Make a self-signed certificate (ECDSA P-256) and its key for a test cluster's mutual TLS. Give both files to every node " +
            "(train --tls-cert F.crt --tls-key F.key, the same for the workers): nodes with them trust each other and nothing else.\n\n" +
            "Example:\n  dnn cert --out certs\n  dnn train --spawn-workers 2 --tls-cert certs/cluster.crt --tls-key certs/cluster.key");
        foreach (var o in new Option[] { output, name, subject, days, force }) command.Options.Add(o);
        command.SetAction(parse =>
        {
            string dir = parse.GetValue(output)!;
            string file = parse.GetValue(name)!;
            if (file.Length == 0 || file.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || file.Contains('/'))
                throw new UserErrorException($"--name '{file}' is not a file name");
            if (!parse.GetValue(force) && (File.Exists(Path.Combine(dir, file + ".crt")) || File.Exists(Path.Combine(dir, file + ".key"))))
                throw new UserErrorException($"{Path.Combine(dir, file)}.crt or .key exists already (--force replaces them)");
            string subjectName = parse.GetValue(subject)!;
            try { _ = new System.Security.Cryptography.X509Certificates.X500DistinguishedName(subjectName); }
            catch (System.Security.Cryptography.CryptographicException) { throw new UserErrorException($"--subject '{subjectName}' is not a distinguished name like CN=dnn-cluster"); }
            (string cert, string key) = ClusterTls.CreateSelfSigned(dir, file, subjectName, parse.GetValue(days), overwrite: parse.GetValue(force));
            using var tls = ClusterTls.Load(cert, key);
            stdout.WriteLine($"certificate {cert}  ({tls.Certificate.Subject}, valid until {tls.Certificate.NotAfter:yyyy-MM-dd}, SHA-256 {ClusterTls.Fingerprint(tls.Certificate)})");
            stdout.WriteLine($"key         {key}  (keep it private: whoever has both files can join the cluster)");
            return DnnCli.Ok;
        });
        return command;
    }
}
