namespace DistributedNN.Serialization;

/// <summary>Reads weights for <c>--init</c> and <c>evaluate</c>: a binary model file or a JSON export.</summary>
public static class ModelLoader
{
    public static TrainedModel Load(string path)
    {
        byte[] head = new byte[8];
        try
        {
            using var fs = File.OpenRead(path);
            int n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            if (n < head.Length) Array.Resize(ref head, n);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw new DataFormatException($"{path}: file not found"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DataFormatException($"{path}: cannot read the file ({e.Message})"); }
        return ModelFile.LooksLikeModelFile(head) ? ModelFile.Load(path) : ModelJson.Load(path);
    }
}
